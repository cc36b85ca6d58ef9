// Owns one client's stateful session on its own backend connection: MULTI/EXEC, WATCH, blocking commands, Pub/Sub and MONITOR.
import type { PinnedConnection } from '../backend/pinned-connection.ts';
import type { PinnedSessions } from '../backend/backends.ts';
import type { CommandTable } from '../commands/backend-commands.ts';
import { routeOf, type WriteEffect, writeEffect } from '../commands/routing.ts';
import { CommandError } from '../errors.ts';
import { encodeCommand } from '../resp/command-encoder.ts';
import { RawReply, type Reply } from '../resp/reply.ts';
import { parseReply, PushValue } from '../resp/reply-reader.ts';

/** What a session needs from the client connection it belongs to. */
export interface SessionHost {
  /** Whose idle connection the pool keeps when the session ends cleanly. */
  readonly owner: object;
  /** The client's protocol and database (SELECT changes it between commands). */
  readonly protocol: 2 | 3;
  readonly db: number;
  /**
   * A frame of the stream (subscribed, MONITOR), relayed in order with the replies. `push`: a Pub/Sub
   * message or confirmation (or any RESP3 push), which Redis sends even with CLIENT REPLY OFF; otherwise
   * the reply of a command sent in the stream, or a MONITOR line.
   */
  relay(frame: Buffer, push: boolean): void;
  /** A write Redis acknowledged: drop what it made stale, before its reply is relayed (a promise when that must wait). */
  invalidate(effect: WriteEffect): void | Promise<void>;
  /** The session is over; the client's next commands take the shared paths again. */
  ended(): void;
  /** The connection died under a subscription or MONITOR: the client must reconnect, as if Redis went away. */
  lost(reason: string): void;
  /** The backend's command table, for what a write touches. */
  table(): CommandTable | undefined;
}

const lower = (arg: Buffer) => arg.toString('latin1').toLowerCase();
const isError = (frame: Buffer) => frame[0] === 0x2d /* - */ || frame[0] === 0x21; /* ! */

export const EXECABORT = new CommandError('EXECABORT Transaction discarded because of previous errors.');

/** run()'s answer while the session winds down: the request must wait until it has ended. */
export const SESSION_BUSY = Symbol('session busy');

/** The first element of a Pub/Sub frame (`*3\r\n$7\r\nmessage…`, or `>3…` in RESP3), lower case; '' if it is not one. */
function pubsubKind(frame: Buffer): string {
  if (frame[0] !== 0x2a && frame[0] !== 0x3e) return '';
  const lf = frame.indexOf(10);
  if (frame[lf + 1] !== 0x24 /* $ */) return '';
  const lf2 = frame.indexOf(10, lf + 1);
  const length = Number(frame.latin1Slice(lf + 2, lf2 - 1));
  if (!(length > 0 && length <= 12)) return '';
  return frame.latin1Slice(lf2 + 1, lf2 + 1 + length).toLowerCase();
}

const SUBSCRIBE_REPLIES = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const MESSAGES = new Set(['message', 'pmessage', 'smessage']);

/**
 * Commands run on the client's own connection, in order, for as long as the session needs it:
 * while a transaction is open or keys are watched, while a command is awaited (a blocked pop),
 * while subscribed, or after MONITOR. Then the connection goes back to the pool, idle, for this
 * client's next session.
 *
 * Inside a transaction every command is queued by Redis, including those the proxy would answer
 * itself; the writes queued are invalidated when EXEC's reply comes. Subscribed (or monitoring),
 * every frame Redis sends is relayed as it comes, and the session ends when the subscription counts
 * in Redis's confirmations reach zero.
 */
export class Session {
  readonly #host: SessionHost;
  readonly #pool: PinnedSessions;
  readonly #connection: PinnedConnection;
  /** MULTI was sent and not yet EXEC or DISCARD: commands are queued by Redis. */
  #inMulti = false;
  /** A command queued in the transaction was refused here: EXEC must abort, as Redis does. */
  #dirty = false;
  #queuedEffects: WriteEffect[] = [];
  #queued = 0;
  #watching = false;
  #streaming = false;
  #monitoring = false;
  #channels = 0;
  #shardChannels = 0;
  #patterns = 0;
  /** Commands sent whose replies have not come. */
  #outstanding = 0;
  /** Of those, blocking commands (BLPOP, XREAD … BLOCK, WAIT, …) sent outside a transaction: they may never be answered. */
  #blocking = 0;
  /** The connection died while the client still expected the session: commands get errors until it lets go. */
  #broken = '';
  #over = false;
  /** A subscription's connection is not kept for reuse: subscribers stay long, and are few. */
  #streamed = false;
  /**
   * The last subscription went, but replies to commands the client sent meanwhile may still come in
   * the stream: they are relayed until Redis echoes this marker (a PING sent after them).
   */
  #endOfStream: Buffer | undefined;

  constructor(host: SessionHost, pool: PinnedSessions, connection: PinnedConnection) {
    this.#host = host;
    this.#pool = pool;
    this.#connection = connection;
    connection.onClosed = (reason) => this.#connectionLost(reason);
  }

  /** Commands are queued by Redis (every command goes to it, even those the proxy would answer). */
  get inMulti(): boolean {
    return this.#inMulti;
  }

  /** Subscribed or monitoring: every command goes to Redis, and every frame comes back as it is. */
  get streaming(): boolean {
    return this.#streaming;
  }

  /** For CLIENT LIST. */
  get info() {
    return {
      multi: this.#inMulti ? this.#queued : -1,
      channels: this.#channels,
      patterns: this.#patterns,
      shardChannels: this.#shardChannels,
      blocked: !this.#inMulti && !this.#streaming && this.#outstanding > 0,
      monitoring: this.#monitoring,
      blockedIn: !this.#inMulti && !this.#streaming && this.#blocking > 0 ? this.#connection.redisId : 0,
      blockedAt: this.#connection.address,
    };
  }

  /**
   * Runs one request in the session. A promise of its reply, or undefined when streaming (the reply
   * arrives with the stream).
   */
  run(args: Buffer[]): Promise<Reply> | Reply | undefined | typeof SESSION_BUSY {
    if (this.#endOfStream !== undefined) return SESSION_BUSY;
    const name = lower(args[0]!);
    if (this.#broken) return this.#whileBroken(name);
    if (this.#streaming) {
      this.#write(args);
      return undefined;
    }
    if (this.#inMulti) return this.#inTransaction(name, args);
    if (name === 'multi') {
      // Sent while not yet in the transaction, so that a SELECT it needs goes before it, not into it.
      const reply = this.#send(args, null);
      this.#inMulti = true;
      this.#dirty = false;
      this.#queued = 0;
      this.#queuedEffects = [];
      return reply;
    }
    if (name === 'watch') this.#watching = true;
    else if (name === 'unwatch') this.#watching = false;
    else if (name === 'subscribe' || name === 'psubscribe' || name === 'ssubscribe' || name === 'monitor') {
      // Replies still awaited come first (the connection hands them out before the stream).
      this.#startStreaming(name === 'monitor');
      this.#write(args);
      return undefined;
    }
    const table = this.#host.table();
    const route = routeOf(args, table);
    return this.#send(args, writeEffect(args, table), route.kind === 'session' && route.session === 'blocking');
  }

  /** A command the proxy will not queue (SELECT, a refused one): Redis's rule, EXEC aborts. */
  refuseInTransaction(error: CommandError): Reply {
    this.#dirty = true;
    return error;
  }

  /** Waiting on Redis with no end in sight: a blocked command, a subscription, MONITOR. */
  get waitsIndefinitely(): boolean {
    return this.#streaming || this.#blocking > 0;
  }

  /**
   * Ends the session at once (RESET, QUIT, the client went away, shutdown); commands still awaited
   * fail with `reason`. The connection is not reused.
   */
  close(reason = 'the session was closed'): void {
    if (this.#over) return;
    this.#over = true;
    this.#connection.close(reason);
    this.#pool.release(this.#host.owner, this.#connection, false);
  }

  #inTransaction(name: string, args: Buffer[]): Promise<Reply> | Reply {
    if (name === 'exec') {
      this.#inMulti = false;
      this.#watching = false;
      const effects = this.#queuedEffects;
      this.#queuedEffects = [];
      if (this.#dirty) {
        void this.#send([Buffer.from('DISCARD')], null);
        return EXECABORT;
      }
      return this.#sendThen(args, (frame) => {
        // An array: the transaction ran (a nil array: a watched key changed, nothing ran).
        if (frame[0] !== 0x2a || frame[1] === 0x2d) return undefined;
        const waits = effects.map((effect) => this.#host.invalidate(effect)).filter((w) => w !== undefined);
        return waits.length === 0 ? undefined : Promise.all(waits).then(() => {});
      });
    }
    if (name === 'discard') {
      this.#inMulti = false;
      this.#watching = false;
      this.#queuedEffects = [];
      return this.#send(args, null);
    }
    this.#queued++;
    this.#queuedEffects.push(writeEffect(args, this.#host.table()));
    return this.#send(args, null);
  }

  #whileBroken(name: string): Reply {
    const error = new CommandError(`ERR the backend connection of this session was lost (${this.#broken}); the transaction or watch was aborted`);
    if (name === 'exec' || name === 'discard' || name === 'unwatch') this.#finish(false);
    return name === 'discard' || name === 'unwatch' ? new RawReply(Buffer.from('+OK\r\n')) : error;
  }

  #startStreaming(monitor: boolean): void {
    this.#streaming = true;
    this.#streamed = true;
    this.#monitoring = monitor;
    this.#connection.streamTo((frame) => this.#onStreamFrame(frame));
  }

  #onStreamFrame(frame: Buffer): void {
    if (this.#endOfStream !== undefined && frame.equals(this.#endOfStream)) {
      // Every reply owed has been relayed: the session is over.
      this.#endOfStream = undefined;
      this.#streaming = false;
      this.#connection.streamTo(undefined);
      this.#maybeEnd();
      return;
    }
    const kind = pubsubKind(frame);
    if (SUBSCRIBE_REPLIES.has(kind)) {
      const parsed = parseReply(frame);
      const count = Number((parsed instanceof PushValue ? parsed.items : (parsed as unknown[]))[2]);
      // Redis counts channels and patterns together (the count in each confirmation), shard channels apart.
      if (kind === 'ssubscribe' || kind === 'sunsubscribe') this.#shardChannels = count;
      else if (kind === 'psubscribe' || kind === 'punsubscribe') this.#patterns = Math.max(0, count - this.#channels);
      else this.#channels = Math.max(0, count - this.#patterns);
    }
    this.#host.relay(frame, frame[0] === 0x3e /* > */ || SUBSCRIBE_REPLIES.has(kind) || MESSAGES.has(kind));
    if (SUBSCRIBE_REPLIES.has(kind) && !this.#monitoring && this.#channels + this.#patterns + this.#shardChannels === 0 && this.#endOfStream === undefined) {
      // No subscription left; what the client sent after this confirmation is answered before the marker.
      const marker = `redis-cache-proxy:end-of-stream:${Math.random().toString(36).slice(2)}`;
      this.#endOfStream = Buffer.from(`$${marker.length}\r\n${marker}\r\n`);
      this.#write([Buffer.from('PING'), Buffer.from(marker)]);
    }
  }

  /** Sends in the client's current database; resolves with Redis's reply, as it is. */
  #send(args: Buffer[], effect: WriteEffect, blocking = false): Promise<Reply> {
    return this.#sendThen(args, (frame) => (effect !== null && !isError(frame) ? this.#host.invalidate(effect) : undefined), blocking);
  }

  /** Sends, and on the reply runs `onReply` (which may make the reply wait) before handing it over. */
  #sendThen(args: Buffer[], onReply: (frame: Buffer) => void | Promise<void>, blocking = false): Promise<Reply> {
    this.#outstanding++;
    if (blocking) this.#blocking++;
    // The database is the client's when it sent the command, not when the connection is ready: a SELECT
    // pipelined after WATCH must not move the WATCH, nor an EXEC pipelined after MULTI put a SELECT inside.
    const db = this.#inMulti ? undefined : this.#host.db;
    return this.#connection.ready
      .then(() => {
        if (db !== undefined) this.#select(db);
        return this.#connection.send(encodeCommand(args));
      })
      .then((frame) => {
        const reply = new RawReply(frame);
        const waiting = onReply(frame);
        return waiting === undefined ? reply : waiting.then(() => reply);
      })
      .finally(() => {
        this.#outstanding--;
        if (blocking) this.#blocking--;
        this.#maybeEnd();
      });
  }

  /** Writes with no reply expected (streaming); chained like #sendThen, so commands leave in order. */
  #write(args: Buffer[]): void {
    this.#connection.ready.then(
      () => {
        if (this.#connection.open) this.#connection.write(encodeCommand(args));
      },
      () => {},
    );
  }

  /** SELECT changed the client's database since the connection's: switch it first (never inside MULTI: the caller knows). */
  #select(db: number): void {
    if (db === this.#connection.db) return;
    void this.#connection.send(encodeCommand(['SELECT', String(db)])).catch(() => {});
    this.#connection.db = db;
  }

  #maybeEnd(): void {
    if (this.#over || this.#inMulti || this.#watching || this.#streaming || this.#outstanding > 0 || this.#broken) return;
    this.#finish(true);
  }

  #finish(clean: boolean): void {
    if (this.#over) return;
    this.#over = true;
    this.#pool.release(this.#host.owner, this.#connection, clean && !this.#streamed && this.#connection.open);
    this.#host.ended();
  }

  #connectionLost(reason: string): void {
    if (this.#over) return;
    if (this.#streaming) {
      this.#over = true;
      this.#host.lost(reason);
      return;
    }
    if (this.#inMulti || this.#watching) {
      // The client still thinks its transaction (or watch) stands: it must not run as if it did.
      this.#broken = reason;
      this.#inMulti = false;
      this.#watching = false;
      return;
    }
    // Awaited replies fail with the reason (the connection rejects them); then the session is over.
    this.#over = true;
    this.#host.ended();
  }
}
