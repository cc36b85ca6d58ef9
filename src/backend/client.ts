// Owns a shared, self-healing connection to the backing Redis: pipelined commands with deadlines, retries and health.
import type { BackendTarget } from '../config.ts';
import { BackendReplyError, BackendTimeoutError, BackendUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { encodeCommand } from '../resp/command-encoder.ts';
import type { ProtocolVersion } from '../resp/reply.ts';
import { ReplyReader } from '../resp/reply-reader.ts';
import type { LatencyHistogram } from '../stats.ts';
import { type BackendReply, CommandQueue } from './command-queue.ts';
import { BackendConnection, type Locator, type Retargetable } from './connection.ts';

export interface BackendClient extends Retargetable {
  /**
   * Sends one command (a RESP frame, latin1) to run in database `db`. Resolves with its reply: in
   * 'value' mode a bulk string's bytes or null, rejecting on an error reply; in 'frame' mode the
   * reply's exact bytes, errors included. Rejects with BackendUnavailableError when Redis cannot be
   * reached or the deadline passes.
   * `measured` false keeps its reply out of the latency histogram (a PTTL riding along with a fill).
   */
  send(frame: string, retriable: boolean, db: number, measured?: boolean): Promise<Buffer | null>;
  /**
   * Sends `frame`, two commands (a read and its PTTL, retried on a new connection like reads), and
   * resolves with their two replies as send() gives each; rejects with the first error. `onFirst` runs
   * as the first reply is read, before anything the connection reads after it is handled.
   */
  sendPair(frame: string, db: number, onFirst: () => void): Promise<[Buffer | null, Buffer | null]>;
  /** As send(), but the reply comes as the frame Redis sent, also on a 'value' connection. */
  sendRaw(frame: string, retriable: boolean, db: number): Promise<Buffer>;
  /** True while the connection is up and ready for commands. */
  isReady(): boolean;
  /** Why the backend is not ready (e.g. `connect ECONNREFUSED …`, `login refused: WRONGPASS …`); '' while it is. */
  readonly unavailableReason: string;
  /** Resolves true once ready, or false when `timeoutMs` passes first. */
  waitReady(timeoutMs: number): Promise<boolean>;
  /** `host:port` of the backing Redis, for messages (the locator's name while it has given none). */
  readonly address: string;
  /** Fails what is still queued, then closes the connection. */
  close(): Promise<void>;
}

export interface BackendClientOptions {
  target: BackendTarget;
  /** Where the backend is when its address can change (Sentinel); `target` then gives the login, database and TLS. */
  locator?: Locator;
  /** The protocol the connection speaks (3: HELLO 3 in its handshake); replies relayed in 'frame' mode are in it. */
  protocol: ProtocolVersion;
  /** How replies are handed over: 'value' (cache fills) or 'frame' (relayed to clients as they are). */
  replies: 'value' | 'frame';
  /** The connection's name in Redis's CLIENT LIST. */
  name: string;
  /** Milliseconds a command may take from when it is queued (REDIS_TIMEOUT); also bounds a connect attempt. */
  timeoutMs: number;
  /** Most commands awaiting a reply at once (MAX_PARALLEL). */
  maxInFlight: number;
  /** Where each reply's latency is counted (the cache's reads); none when absent. */
  latency?: LatencyHistogram;
  /** Whether this connection's problems are logged (one connection per backend logs, so a failure is reported once). */
  logs: boolean;
  /**
   * Sent last in every handshake, where a refusal does not make the connection unusable (CLIENT
   * TRACKING on): `onResult` hears the refusal's text, or undefined when Redis accepted it.
   */
  optionalHandshake?: readonly { readonly args: readonly string[]; onResult(refusal: string | undefined): void }[];
  /** RESP3 pushes Redis sends on this connection (invalidations). */
  onPush?: (frame: Buffer) => void;
  /** The connection became ready (`true`), or a ready one was lost (`false`, with why). */
  onState?: (ready: boolean, reason: string) => void;
  /** With nothing sent for this many milliseconds, a PING goes, so a silently dead connection is noticed. */
  heartbeatMs?: number;
  log: Logger;
}

/** Deadlines are checked this many times per REDIS_TIMEOUT: a read fails between 1 and 1.1 timeouts after it was queued. */
const SWEEPS_PER_TIMEOUT = 10;

const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
const PING = '*1\r\n$4\r\nPING\r\n';

/** In 'frame' mode an error reply resolves like any reply; the handshake needs it as a failure. */
function failOnError(reply: BackendReply): BackendReply {
  if (reply instanceof Buffer && reply[0] === 0x2d) throw new BackendReplyError(reply.latin1Slice(1, reply.length - 2));
  return reply;
}

/** Error replies that mean the proxy may not use Redis at all with the configured login. */
const LOGIN_REFUSED = /^(NOAUTH|WRONGPASS|NOPERM|ERR (invalid password|Client sent AUTH|AUTH))/;

/**
 * Why not ioredis: on the miss benchmark its per-command machinery (a Command object, argument
 * flattening, a promise and, with commandTimeout, a timer armed and cleared per GET) was the largest
 * part of the proxy's CPU after the socket writes. Here the GETs of one event-loop turn leave in one
 * write, replies are read by ReplyReader and matched in order, and one sweep timer handles every deadline.
 *
 * Reads are idempotent, so a read whose connection dies before its reply is sent again on the next
 * one, and reads queued while a lost connection is being re-established wait for it; both within
 * their deadline. Only when an attempt to connect fails is the backend called unavailable: reads then
 * fail at once, with the reason, until it is back.
 */
export function createBackendClient(options: BackendClientOptions): BackendClient {
  const { target, locator, protocol, replies, name, timeoutMs, maxInFlight, latency, logs, optionalHandshake, onPush, onState, heartbeatMs, log } = options;
  const unavailable = (reason: string) => new BackendUnavailableError(`backend Redis at ${connection.address} is unavailable (${reason})`);

  let reason = 'not connected yet';
  let lastLogged = '';
  let everReady = false;
  let closed = false;
  // While true, reads queue for the connection being (re)established instead of failing at once:
  // from start until the first attempt fails, and after a working connection was lost.
  let holding = true;
  let flushScheduled = false;
  const readyWaiters = new Set<() => void>();

  const sweepMs = Math.max(1, Math.floor(timeoutMs / SWEEPS_PER_TIMEOUT));
  const queue = new CommandQueue({
    maxInFlight,
    deadlineTicks: Math.ceil(timeoutMs / sweepMs) + 1,
    timedOut: () => new BackendTimeoutError(`backend Redis at ${connection.address} is unavailable (no reply within ${timeoutMs} ms)`),
    latency,
  });

  // Liveness: while replies are due, some byte must arrive within timeoutMs, or the connection is
  // dead (a stopped Redis, a dropped route). Bytes, not whole replies: a large value may take longer.
  let chunks = 0;
  let chunksAtLastSweep = 0;
  let quietSweeps = 0;
  // Sweeps since the last write, for the heartbeat.
  let idleSweeps = 0;

  const reader = new ReplyReader();

  /**
   * Hands one reply to the command awaiting it: in 'value' mode a bulk string as its bytes (null when
   * absent), an error as an error. `now` is when the chunk holding it was read, for its latency.
   */
  function deliver(frame: Buffer, now: number): boolean {
    const type = frame[0];
    if (type === 0x3e /* > */) {
      // A RESP3 push answers no command.
      if (onPush !== undefined) {
        onPush(frame);
        return true;
      }
      const shown = frame.latin1Slice(0, Math.min(frame.length, 80));
      report('backend_push_ignored', `ignored an unexpected push from Redis: ${shown}`, shown);
      return true;
    }
    if (replies === 'frame' || queue.nextIsRaw) return queue.reply(frame, now);
    if (type === 0x24 /* $ */) {
      if (frame[1] === 0x2d /* $-1 */) return queue.reply(null, now);
      return queue.reply(frame.subarray(frame.indexOf(10) + 1, frame.length - 2), now);
    }
    if (type === 0x5f /* _ */) return queue.reply(null, now);
    if (type === 0x2d /* - */) {
      const message = frame.latin1Slice(1, frame.length - 2);
      // LOADING: Redis is up but still reading its dataset; reads fail until it is done.
      return queue.replyError(message.startsWith('LOADING') ? unavailable(message) : new BackendReplyError(message), now);
    }
    return queue.reply(frame, now);
  }

  /** Logs a problem once, not again on every retry while it stays the same. */
  function report(event: 'backend_lost' | 'backend_unavailable' | 'backend_push_ignored', message: string, why: string, level: 'warn' | 'error' = 'warn') {
    if (!logs || message === lastLogged) return;
    lastLogged = message;
    const address = connection.address;
    log[level](`backend ${address}: ${message}`, { event, backend: address, reason: why });
  }

  function flush() {
    flushScheduled = false;
    if (!connection.ready || !queue.writable) return;
    // One clock reading for the whole batch: each command's latency counts from this write.
    const text = queue.takeWritable(performance.now());
    if (text === '') return;
    idleSweeps = 0;
    connection.write(text);
  }

  function scheduleFlush() {
    if (flushScheduled) return;
    flushScheduled = true;
    // The reads of one event-loop turn leave together.
    setImmediate(flush);
  }

  async function handshake(write: (text: string) => void): Promise<void> {
    reader.reset();
    queue.connected(target.db);
    const login = target.password === undefined ? [] : target.username ? [target.username, target.password] : [target.password];
    const steps: Promise<BackendReply>[] = [];
    let text = '';
    const send = (args: readonly string[]) => {
      const frame = encodeCommand(args);
      text += frame;
      return queue.sendNow(frame).then(failOnError);
    };
    if (login.length) steps.push(send(['AUTH', ...login.map(latin1)]));
    if (protocol === 3) steps.push(send(['HELLO', '3']));
    if (target.db !== 0) steps.push(send(['SELECT', String(target.db)]));
    // Names the connection in CLIENT LIST. A Redis without the command, or a user not allowed it,
    // still serves reads; but NOAUTH here means Redis wants a login the proxy was not given.
    const naming = send(['CLIENT', 'SETNAME', name]).catch((err: Error) => {
      if (err.message.startsWith('NOAUTH')) throw err;
    });
    const optional = (optionalHandshake ?? []).map((step) =>
      send(step.args).then(
        () => step.onResult(undefined),
        (err: Error) => {
          if (err.message.startsWith('NOAUTH')) throw err;
          step.onResult(err.message);
        },
      ),
    );
    write(text);
    try {
      await Promise.all([...steps, naming, ...optional]);
    } catch (err) {
      const message = (err as Error).message;
      throw new Error(LOGIN_REFUSED.test(message) ? `login refused: ${message}` : `handshake refused: ${message}`, { cause: err });
    }
  }

  const connection = new BackendConnection({
    target,
    locator,
    connectTimeoutMs: timeoutMs,
    handlers: {
      onData(chunk) {
        chunks++;
        // One clock reading per chunk read, shared by every reply it completes.
        const now = performance.now();
        reader.push(chunk);
        try {
          for (let frame = reader.next(); frame !== null; frame = reader.next()) {
            if (!deliver(frame, now)) return connection.destroy('reply without a request: connection out of step');
          }
        } catch (err) {
          return connection.destroy(`unreadable reply from Redis: ${(err as Error).message}`);
        }
        // Replies make room under MAX_PARALLEL: queued reads may go now, in this same turn.
        if (queue.writable) flush();
      },
      handshake,
      onReady() {
        reason = '';
        const event = everReady ? 'reconnected' : 'connected';
        const address = connection.address;
        if (logs) log.info(`backend ${address} ${event}`, { event: `backend_${event}`, backend: address });
        everReady = true;
        lastLogged = '';
        for (const wake of readyWaiters) wake();
        onState?.(true, '');
        flush();
      },
      onDown(why, wasReady) {
        reason = why;
        if (closed) return;
        if (wasReady) {
          onState?.(false, why);
          // Reads in flight go again on the next connection; an immediate attempt follows.
          report('backend_lost', `connection lost (${why}), reconnecting`, why);
          queue.connectionLost(unavailable(why));
          holding = true;
          return;
        }
        report('backend_unavailable', why, why, why.startsWith('login refused') ? 'error' : 'warn');
        // An attempt failed: Redis is not there. Reads fail now, with the reason, until it is back.
        holding = false;
        queue.failAll(unavailable(why));
      },
    },
  });

  const heartbeatSweeps = heartbeatMs === undefined ? Infinity : Math.max(1, Math.round(heartbeatMs / sweepMs));
  const sweeper = setInterval(() => {
    queue.sweep();
    // Nothing written for a while: a PING makes the liveness check below look at the connection.
    if (++idleSweeps >= heartbeatSweeps && connection.ready && queue.awaitingReply === 0 && queue.waiting === 0) {
      idleSweeps = 0;
      void queue.enqueue(PING, true).catch(() => {});
      flush();
    }
    if (chunks !== chunksAtLastSweep || queue.awaitingReply === 0) {
      chunksAtLastSweep = chunks;
      quietSweeps = 0;
    } else if (++quietSweeps >= SWEEPS_PER_TIMEOUT) {
      quietSweeps = 0;
      connection.destroy(`no reply within ${timeoutMs} ms`);
    }
  }, sweepMs);
  sweeper.unref();
  connection.start();

  return {
    get address() {
      return connection.address;
    },
    retarget: (address, reason) => connection.retarget(address, reason),
    send(frame, retriable, db, measured = true) {
      if (!connection.ready && !holding) return Promise.reject(unavailable(reason));
      scheduleFlush();
      return queue.enqueue(frame, retriable, db, false, measured) as Promise<Buffer | null>;
    },
    sendPair(frame, db, onFirst) {
      if (!connection.ready && !holding) return Promise.reject(unavailable(reason));
      scheduleFlush();
      return queue.enqueuePair(frame, db, onFirst) as Promise<[Buffer | null, Buffer | null]>;
    },
    sendRaw(frame, retriable, db) {
      if (!connection.ready && !holding) return Promise.reject(unavailable(reason));
      scheduleFlush();
      return queue.enqueue(frame, retriable, db, true) as Promise<Buffer>;
    },
    isReady: () => connection.ready,
    get unavailableReason() {
      return connection.ready ? '' : reason;
    },
    waitReady(ms) {
      if (connection.ready) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (isReady: boolean) => {
          clearTimeout(timer);
          readyWaiters.delete(wake);
          resolve(isReady);
        };
        const wake = () => done(true);
        const timer = setTimeout(() => done(false), ms);
        readyWaiters.add(wake);
      });
    },
    async close() {
      closed = true;
      clearInterval(sweeper);
      queue.failAll(unavailable('the proxy is shutting down'));
      await connection.close();
    },
  };
}
