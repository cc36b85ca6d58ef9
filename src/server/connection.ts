// Owns one RESP client connection: decode requests, route each (local, cache, shared, its own session), write replies in request order, apply back-pressure.
import type { Socket } from 'node:net';
import { hostPort } from '../address.ts';
import { monotonicSeconds } from '../clock.ts';
import { dispatch, dispatchGet } from '../commands/dispatch.ts';
import { exists as knownToIoredis } from '@ioredis/commands';
import { commandKeys, readKeys, routeOf, writeEffect } from '../commands/routing.ts';
import { CROSSSLOT, slotOfKeys } from '../backend/cluster/slot-map.ts';
import type { PinnedConnection } from '../backend/pinned-connection.ts';
import { findCommand } from '../commands/table.ts';
import type { ClientState, CommandContext, ProxyContext, SessionInfo } from '../commands/types.ts';
import { CommandError, ProxyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { encodeCommand } from '../resp/command-encoder.ts';
import { batchBytes, takeBatch, writeReply } from '../resp/reply-encoder.ts';
import { OK, RawReply, SimpleString, RawTextReply, type ProtocolVersion, type Reply } from '../resp/reply.ts';
import { RequestDecoder } from '../resp/request-decoder.ts';
import { resp3ToResp2 } from '../resp/resp3-to-resp2.ts';
import { countCommand } from '../stats.ts';
import { refuseUnauthenticated } from './unauthenticated.ts';
import { EXECABORT, Session, SESSION_BUSY, type SessionHost } from './session.ts';

/**
 * A client that does not read its replies must not make the proxy buffer without bound. Past this many
 * reply bytes waiting in its socket, the proxy stops encoding replies for it and stops reading its
 * requests, until the socket drains. Replies still owed hold only references to cached values.
 */
const OUTPUT_LIMIT_BYTES = 1024 * 1024;
/** Stop reading a client while more than this many of its replies wait on the backend or on earlier replies. */
const PENDING_LIMIT = 16 * 1024;

/** A reply that cannot be written yet: its own lookup, or one before it, is still waiting on Redis. */
interface Slot {
  reply: Reply | undefined;
  settled: boolean;
  /** Owed by a session the client left while it waited on Redis, or silenced by CLIENT REPLY: never written. */
  dropped?: boolean;
  /** Encoded in the protocol in force when its command ran, even if a later HELLO changed it. */
  readonly protocol: ProtocolVersion;
}

/**
 * Lanes: the paths a command can take to Redis. Commands on one lane keep their order on it (one
 * connection, or reads that commute); a command for another lane waits until the client has nothing
 * outstanding, so Redis runs a client's commands in the order it sent them (a GET after a SET sees the
 * SET, a SET after a GET does not change what the GET reads).
 */
const NO_LANE = 0;
const CACHE_LANE = 1;
const SHARED_LANE = 2;
const SESSION_LANE = 3;
type Lane = typeof NO_LANE | typeof CACHE_LANE | typeof SHARED_LANE | typeof SESSION_LANE;

/** After the last reply owed is written, how long the connection keeps reading (and dropping) before it closes. */
const LINGER_AFTER_LAST_REPLY_MS = 1000;

/**
 * CLIENT REPLY, as Redis's client flags: OFF silences every reply from the command that set it on;
 * SKIP silences its own reply (THIS) and the next command's (NEXT, which becomes THIS after it).
 */
const REPLY_OFF = 1;
const SKIP_THIS = 2;
const SKIP_NEXT = 4;
/** What a command sent in a subscription is answered with, in the stream: its frame, nothing, or (for a PING standing in) these bytes. */
const STREAM_RELAY = 0;
const STREAM_SILENCE = 1;
type StreamAnswer = typeof STREAM_RELAY | typeof STREAM_SILENCE | Buffer;
/** Commands whose only answers in a subscription are Pub/Sub pushes, which CLIENT REPLY never silences. */
const PUSH_ONLY = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const STREAM_OK_FRAME = Buffer.from('+OK\r\n');
const CLIENT_REPLY_SUBSCRIBED = Buffer.from(
  "-ERR Can't execute 'client|reply': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
);
const PING = [Buffer.from('PING')];
const CLIENT_REPLY_IN_MULTI = new CommandError(
  'ERR CLIENT REPLY inside MULTI is not supported through redis-cache-proxy; send CLIENT REPLY before MULTI or after EXEC',
);

/** #run's answer when the request must wait for the client's outstanding commands on another lane. */
const HOLD = Symbol('hold');
const CROSSSLOT_ERROR = new CommandError(CROSSSLOT);
const MULTI = [Buffer.from('MULTI')];
const DISCARD = [Buffer.from('DISCARD')];
const QUEUED = new SimpleString('QUEUED');
const MULTI_NESTED = new CommandError('ERR MULTI calls can not be nested');
const WATCH_IN_MULTI = new CommandError('ERR WATCH inside MULTI is not allowed');

const GET_NAME = Buffer.from('GET');
const lower = (arg: Buffer) => arg.toString('latin1').toLowerCase();
const toRawTextReply = (frame: string) => new RawTextReply(frame);
const isErrorFrame = (frame: Buffer) => frame[0] === 0x2d /* - */ || frame[0] === 0x21; /* ! */
const NOT_IN_SESSION = new CommandError(
  'ERR HELLO cannot change the protocol during a transaction, a blocking command or a subscription through redis-cache-proxy',
);
const NOT_IN_MULTI = new CommandError('ERR SELECT inside MULTI is not supported through redis-cache-proxy; SELECT before MULTI');
/** CLIENT KILL: the proxy's clients are its to kill; sent on to Redis it would kill Redis's, the proxy's own connections among them. */
const isKill = (args: readonly Buffer[]) => args.length > 1 && lower(args[1]!) === 'kill';
const KILL_IN_STREAM = new CommandError(
  'ERR CLIENT KILL while subscribed or in MONITOR is not supported through redis-cache-proxy; run it on another connection',
);
const KILL_NOT_IN_MULTI = new CommandError('ERR CLIENT KILL inside MULTI is not supported through redis-cache-proxy; run it outside the transaction');
const AUTH_NOT_IN_MULTI = new CommandError('ERR AUTH inside MULTI is not supported through redis-cache-proxy; AUTH before MULTI');
/** Commands that a session (not the proxy) answers while one is open. */
const SESSION_COMMANDS = new Set(['exec', 'discard', 'unwatch', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'ping', 'echo']);

export interface ConnectionOptions {
  id: number;
  socket: Socket;
  proxy: ProxyContext;
  queryBufferLimit: number;
  log: Logger;
  /** Called when the client logs in (true) and when it is, or becomes again, not logged in (false); only with a password set. */
  onAuthenticated?: (authenticated: boolean) => void;
}

export class RespConnection implements ClientState, SessionHost {
  readonly id: number;
  protocol: ProtocolVersion = 2;
  db: number;
  name = '';
  libName = '';
  libVersion = '';
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly createdAt = monotonicSeconds();
  lastActiveAt = this.createdAt;
  lastCommand = 'NULL';
  closeAfterReply = false;

  readonly #socket: Socket;
  readonly #decoder: RequestDecoder;
  readonly #ctx: CommandContext;
  readonly #log: Logger;
  // Replies waiting to be written, oldest first; a reply is written only when all before it are.
  #queue: Slot[] = [];
  #queueHead = 0;
  #drainScheduled = false;
  // After QUIT, a protocol error or the client's end of stream: read nothing more (bytes that still
  // arrive are dropped), and close once every reply owed is written.
  #inputStopped = false;
  // Shutting down: read nothing more from the socket, but answer the requests already received.
  #draining = false;
  #paused = false;
  // The lane of the commands outstanding (sent, reply not settled), and how many there are.
  #lane: Lane = NO_LANE;
  #outstanding = 0;
  // A request waiting for the outstanding commands of another lane to finish.
  #held: Buffer[] | string | undefined;
  #session: Session | undefined;
  /** In a cluster: the hash slot the session's keys are in, once one is known. */
  #sessionSlot: number | undefined;
  /** In a cluster: MULTI was answered, and the session opens with the next command (on its keys' node). */
  #multiPending = false;
  /** A command after that pending MULTI was refused (CROSSSLOT): EXEC aborts. */
  #multiDirty = false;
  /** In a cluster: a command of another slot was answered QUEUED in the transaction: its EXEC answers CROSSSLOT. */
  #crossSlotAtExec = false;
  // CLIENT REPLY's state (REPLY_OFF, SKIP_THIS, SKIP_NEXT); 0, replies on, is the only state the hot path tests.
  #quiet = 0;
  // In a subscription, the answers owed, in order, for the commands whose reply is not a push (PING, …).
  #streamAnswers: StreamAnswer[] = [];
  #streamAnswersHead = 0;
  // False from connect until AUTH succeeds when PROXY_PASSWORD is set (and again after RESET); the
  // deadline closes a connection that has not authenticated by then (AUTH_TIMEOUT).
  #authenticated = true;
  #authDeadline: NodeJS.Timeout | undefined;
  readonly #onAuthenticated: ((authenticated: boolean) => void) | undefined;

  constructor({ id, socket, proxy, queryBufferLimit, log, onAuthenticated }: ConnectionOptions) {
    this.id = id;
    this.#onAuthenticated = onAuthenticated;
    this.db = proxy.config.backend.db;
    this.#socket = socket;
    this.#decoder = new RequestDecoder(queryBufferLimit);
    this.#ctx = { client: this, proxy };
    this.#log = log;
    this.remoteAddress = hostPort(socket.remoteAddress, socket.remotePort);
    this.localAddress = hostPort(socket.localAddress, socket.localPort);
    if (proxy.password !== undefined) this.authenticated = false;

    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => this.receive(chunk, false));
    // The client closed its sending side: answer what it already asked, then close ours.
    socket.on('end', () => {
      // As Redis frees a client that closes its side: a session waiting on Redis with no end in sight ends
      // now (a blocked pop must not later consume an element for a client that can send nothing more);
      // one that is only answering (a transaction sent whole) answers first, and ends when the socket closes.
      if (this.#session?.waitsIndefinitely) this.#abandonSession();
      this.#stopInput();
    });
    // Once the replies owed are written after input stopped, the connection is done (as Redis closes
    // it after QUIT), whether or not the client closes its side.
    socket.on('finish', () => {
      // Reading (and dropping) goes on a moment, so a client still sending does not make the kernel
      // reset the connection, which can take the last replies with it before the client reads them.
      const linger = setTimeout(() => socket.destroy(), LINGER_AFTER_LAST_REPLY_MS);
      linger.unref();
      socket.once('close', () => clearTimeout(linger));
    });
    socket.on('drain', this.#drain);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      clearTimeout(this.#authDeadline);
      // A blocked pop must not consume an element nobody will receive: its connection goes now.
      this.#session?.close();
      this.#session = undefined;
      proxy.backends.pinned.forget(this);
    });
  }

  get owner(): object {
    return this;
  }

  get session(): SessionInfo | undefined {
    return this.#session?.info;
  }

  get authenticated(): boolean {
    return this.#authenticated;
  }

  /** AUTH and HELLO … AUTH set it, RESET clears it (with a password set); the decoder applies Redis's limits until it is set. */
  set authenticated(value: boolean) {
    this.#authenticated = value;
    this.#decoder.authenticated = value;
    clearTimeout(this.#authDeadline);
    this.#authDeadline = value ? undefined : setTimeout(this.#authTimedOut, this.#ctx.proxy.config.authTimeoutMs);
    this.#onAuthenticated?.(value);
  }

  #authTimedOut = (): void => {
    this.#ctx.proxy.stats.authTimeouts++;
    this.#log.debug(`RESP client ${this.id} closed: not authenticated within AUTH_TIMEOUT`, { event: 'auth_timeout', id: this.id });
    this.#socket.destroy();
  };

  /** Handles bytes read from the client; `borrowed` bytes are overwritten once this returns. */
  receive(chunk: Buffer, borrowed: boolean): void {
    // Input has stopped: whatever else the client sends is not a request of this connection.
    if (this.#inputStopped || this.#draining) return;
    this.#decoder.push(chunk, borrowed);
    this.#process();
  }

  /** Shutdown: reads nothing more, answers the requests already received, then closes. */
  closeWhenIdle(): void {
    this.#draining = true;
    this.#socket.pause();
    if (!this.#paused) this.#process();
  }

  /** CLIENT REPLY ON|OFF|SKIP, and RESET (which, as Redis's, ends OFF and a SKIP to come, not one in force). */
  replyMode(mode: 'on' | 'off' | 'skip' | 'reset'): void {
    if (mode === 'on') this.#quiet = 0;
    else if (mode === 'off') this.#quiet |= REPLY_OFF;
    else if (mode === 'reset') this.#quiet &= SKIP_THIS;
    // SKIP answers nothing itself, and does nothing while replies are off.
    else if ((this.#quiet & REPLY_OFF) === 0) this.#quiet |= SKIP_THIS | SKIP_NEXT;
  }

  /** Replies are not all on: the command just run may be answered or not; then a SKIP moves on. */
  #answerQuietly(result: Reply | Promise<Reply> | undefined): void {
    const silenced = (this.#quiet & (REPLY_OFF | SKIP_THIS)) !== 0;
    this.#quiet = (this.#quiet & REPLY_OFF) | ((this.#quiet & SKIP_NEXT) !== 0 ? SKIP_THIS : 0);
    if (result === undefined) return;
    // A silenced reply still waited on keeps its place, so the lanes still wait for its command; it is never written.
    if (silenced) {
      if (result instanceof Promise) this.#enqueue(result, true);
    } else this.#enqueue(result);
  }

  /** Unsent reply bytes (CLIENT LIST's omem). */
  get outputBytes(): number {
    return this.#socket.writableLength;
  }

  /** Received bytes not yet turned into a request (CLIENT LIST's qbuf). */
  get inputBytes(): number {
    return this.#decoder.buffered;
  }

  /** No request will be read any more: stop reading, and close once every reply owed is written. */
  #stopInput(): void {
    this.#inputStopped = true;
    // Reading goes on: what arrives is dropped (receive()), never buffered.
    if (!this.#draining) this.#socket.resume();
    this.#flush();
  }

  #process(): void {
    this.lastActiveAt = monotonicSeconds();
    const stats = this.#ctx.proxy.stats;
    try {
      while (!this.#inputStopped && !this.#paused && this.#held === undefined) {
        let request: Buffer[] | string | null;
        try {
          request = this.#decoder.next();
        } catch (err) {
          // The stream cannot be trusted past a malformed frame: answer the error, then close.
          stats.protocolErrors++;
          this.#enqueue(err as Error);
          this.#stopInput();
          break;
        }
        if (request === null) {
          // Shutting down and every request received is answered or under way: close when written.
          if (this.#draining) {
            // A blocked command or a subscription would hold the shutdown for nothing: they end now.
            if (this.#session?.waitsIndefinitely) this.#session.close('the proxy is shutting down');
            this.#stopInput();
          }
          break;
        }
        const result = this.#run(request);
        if (result === HOLD) {
          this.#held = request;
          // Reading stops too, so a client pipelining meanwhile is not buffered without bound.
          this.#socket.pause();
          break;
        }
        this.#count(request);
        if (this.#quiet !== 0) this.#answerQuietly(result);
        else if (result !== undefined) this.#enqueue(result);
        if (this.closeAfterReply) {
          this.#stopInput();
          break;
        }
        // Limits matter only if more requests wait in this read (a lone GET never needs the check).
        if (this.#decoder.buffered > 0 && this.#overLimits()) this.#pause();
      }
    } finally {
      // Whatever is left unread (a partial frame, or requests held back by back-pressure) is copied now.
      this.#decoder.release();
      this.#flush();
    }
    // A client sending one request per read and never reading its replies is stopped here: the
    // check above only runs between requests of one read.
    if (!this.#paused && !this.#inputStopped && this.#overLimits()) this.#pause();
  }

  #pause(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  /**
   * Routes one request. A string request is the key of a GET the decoder recognised whole. Returns
   * the reply (or its promise), undefined when it will come in the session's stream, or HOLD.
   */
  #run(request: Buffer[] | string): Reply | Promise<Reply> | undefined | typeof HOLD {
    try {
      if (!this.#authenticated) {
        const refusal = refuseUnauthenticated(request, this.#ctx.proxy.backends.table());
        if (refusal !== undefined) return refusal;
      }
      if (typeof request === 'string') {
        // The hot path: a GET through the cache, unless the client's earlier commands must finish first.
        if (this.#session === undefined && !this.#multiPending && (this.#outstanding === 0 || this.#lane === CACHE_LANE)) {
          this.#lane = CACHE_LANE;
          return dispatchGet(this.#ctx, request);
        }
        request = [GET_NAME, Buffer.from(request, 'latin1')];
      }
      if (this.#multiPending) {
        const pending = this.#openPendingMulti(request);
        if (pending !== undefined) return pending;
      }
      if (this.#session !== undefined) {
        const result = this.#inSession(this.#session, request);
        return result === SESSION_BUSY ? HOLD : result;
      }
      const table = this.#ctx.proxy.backends.table();
      const route = routeOf(request, table, this.#ctx.proxy.backends.fill.cachesReads);
      switch (route.kind) {
        case 'local':
          return dispatch(this.#ctx, request);
        case 'refused':
          return route.error;
        case 'cached':
          if (this.#outstanding === 0 || this.#lane === CACHE_LANE) {
            this.#lane = CACHE_LANE;
            return dispatch(this.#ctx, request);
          }
          // Behind a write on the shared connection: in order there, not from the cache.
          if (this.#lane === SHARED_LANE) return this.#forward(request);
          return HOLD;
        case 'cached-read': {
          if (this.#outstanding > 0 && this.#lane !== CACHE_LANE) return this.#lane === SHARED_LANE ? this.#forward(request) : HOLD;
          const keys = readKeys(request, table);
          // Keys the proxy cannot tell cannot be invalidated: such a read is not cached. Nor, in a
          // cluster, is one across slots: no node can answer it whole (EXISTS is split and merged).
          if (keys === null || (keys.length > 1 && this.#ctx.proxy.backends.clustered && slotOfKeys(keys) === -1))
            return this.#outstanding > 0 ? HOLD : this.#forward(request);
          this.#lane = CACHE_LANE;
          return this.#cachedRead(request, keys);
        }
        case 'forward':
          if (this.#outstanding > 0 && this.#lane !== SHARED_LANE) return HOLD;
          return this.#forward(request);
        case 'control':
          if (this.#outstanding > 0) return HOLD;
          // On no lane of the client's: whatever it sends next waits for this reply.
          this.#lane = NO_LANE;
          // That connection speaks RESP3: a RESP2 client gets the frame converted (FUNCTION STATS is a map).
          return this.#ctx.proxy.backends.fill
            .control(encodeCommand(request))
            .then((frame): Reply => (this.protocol === 2 ? new RawTextReply(resp3ToResp2(frame.latin1Slice(0, frame.length))) : new RawReply(frame)));
        case 'session': {
          if (this.#outstanding > 0) return HOLD;
          if (route.session === 'multi' && this.#ctx.proxy.backends.clustered) {
            // Which node runs the transaction is known only from its first command's keys.
            this.#multiPending = true;
            return OK;
          }
          const slot = this.#ctx.proxy.backends.clustered ? slotOfKeys(commandKeys(request, table) ?? []) : undefined;
          const connection = slot === -1 ? CROSSSLOT_ERROR : this.#ctx.proxy.backends.pinned.acquire(this, this.protocol, this.db, slot);
          if (connection instanceof CommandError) return connection;
          const result = this.#openSession(connection, slot).run(request);
          return result === SESSION_BUSY ? HOLD : result;
        }
      }
    } catch (err) {
      const name = typeof request === 'string' ? 'GET' : request[0]!.toString('latin1');
      this.#log.error(`command ${name} failed: ${(err as Error)?.message ?? String(err)}`, { event: 'internal_error', command: name, err });
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /**
   * Counts the command by name for /metrics, and names it in CLIENT LIST. Only names the proxy or Redis
   * knows are counted apart, so a client cannot grow the count's map with names of its own.
   */
  #count(request: Buffer[] | string): void {
    const stats = this.#ctx.proxy.stats;
    stats.commandsProcessed++;
    if (typeof request === 'string') {
      stats.getCommands++;
      return;
    }
    const table = this.#ctx.proxy.backends.table();
    const name = lower(request[0]!);
    if (name === 'get') stats.getCommands++;
    else if (findCommand(name) !== undefined || (table !== undefined ? table.has(name) : knownToIoredis(name))) countCommand(stats, name);
    else stats.unknownCommands++;
    this.lastCommand = name;
  }

  /** While a session is open: Redis answers everything but what only the proxy can (QUIT, RESET, connection state). */
  #inSession(session: Session, args: Buffer[]): Reply | Promise<Reply> | undefined | typeof SESSION_BUSY {
    const name = lower(args[0]!);
    if (name === 'quit') {
      // As the end of the stream: replies owed come first, unless the session waits with no end in sight.
      if (session.waitsIndefinitely) this.#abandonSession();
      return dispatch(this.#ctx, args);
    }
    if (name === 'reset') {
      session.close();
      this.#session = undefined;
      return dispatch(this.#ctx, args);
    }
    // The proxy's to apply: Redis would silence the session connection's replies, which the proxy awaits.
    if (name === 'client' && args.length === 3 && lower(args[1]!) === 'reply') return this.#clientReplyInSession(session, args);
    // A client's password is the proxy's to check: it never reaches Redis, not even queued in a transaction.
    if (name === 'auth') return session.inMulti ? session.refuseInTransaction(AUTH_NOT_IN_MULTI) : dispatch(this.#ctx, args);
    if (session.streaming) {
      // What the proxy refuses stays refused while subscribed (RESP3 lets a subscriber run any command) or monitoring.
      const route = routeOf(args, this.#ctx.proxy.backends.table());
      if (route.kind === 'refused') return route.error;
      if (name === 'client' && isKill(args)) return KILL_IN_STREAM;
      // A cluster's shard channels of another slot live on another connection's node: one session cannot hear them.
      if (name === 'ssubscribe' && this.#crossesSessionSlot(args) !== false) return CROSSSLOT_ERROR;
      const result = session.run(args);
      // Answers in the stream that are not pushes are the commands' replies, in order: each gets what CLIENT REPLY said
      // when it ran (not when it is held back while the subscription winds down: it runs again later).
      if (result !== SESSION_BUSY && !PUSH_ONLY.has(name) && !session.info.monitoring)
        this.#streamAnswers.push((this.#quiet & (REPLY_OFF | SKIP_THIS)) !== 0 ? STREAM_SILENCE : STREAM_RELAY);
      return result;
    }
    const route = routeOf(args, this.#ctx.proxy.backends.table());
    const crossSlot = this.#crossesSessionSlot(args);
    if (session.inMulti) {
      // Redis queues what it is sent; what the proxy cannot queue makes EXEC fail, as Redis's own refusals do.
      if (route.kind === 'refused') return session.refuseInTransaction(route.error);
      // Redis Cluster refuses a command whose own keys span slots as it is queued, and a transaction
      // whose commands' slots differ at EXEC (discarding it): the other slot's command is answered
      // QUEUED here, and EXEC becomes a DISCARD answered CROSSSLOT.
      if (crossSlot === 'keys') return session.refuseInTransaction(CROSSSLOT_ERROR);
      if (crossSlot === 'slot') {
        this.#crossSlotAtExec = true;
        return QUEUED;
      }
      if (name === 'exec' && this.#crossSlotAtExec) {
        this.#crossSlotAtExec = false;
        const discarded = session.run(DISCARD);
        return discarded instanceof Promise ? discarded.then(() => CROSSSLOT_ERROR) : CROSSSLOT_ERROR;
      }
      if (name === 'discard') this.#crossSlotAtExec = false;
      if (name === 'select') return session.refuseInTransaction(NOT_IN_MULTI);
      if (name === 'client' && isKill(args)) return session.refuseInTransaction(KILL_NOT_IN_MULTI);
      if (name === 'hello') return session.refuseInTransaction(NOT_IN_SESSION);
      return session.run(args);
    }
    if (route.kind === 'refused') return route.error;
    if (route.kind === 'local' && !SESSION_COMMANDS.has(name)) return name === 'hello' ? NOT_IN_SESSION : dispatch(this.#ctx, args);
    if (crossSlot) return CROSSSLOT_ERROR;
    this.#lane = SESSION_LANE;
    return session.run(args);
  }

  /**
   * CLIENT REPLY while a session is open. In a transaction Redis would queue it and apply it halfway
   * through EXEC's reply: refused, and EXEC aborts. In a subscription its answer must come after what
   * the stream still owes (replies, confirmations): a PING goes in its place, and its answer becomes
   * CLIENT REPLY's. A RESP2 subscriber gets Redis's refusal, and its mode does not change.
   */
  #clientReplyInSession(session: Session, args: Buffer[]): Reply | Promise<Reply> | undefined | typeof SESSION_BUSY {
    if (session.inMulti) return session.refuseInTransaction(CLIENT_REPLY_IN_MULTI);
    if (!session.streaming || session.info.monitoring) return dispatch(this.#ctx, args);
    // First, as the session may be winding down: then the request waits, and nothing has changed yet.
    const ping = session.run(PING);
    if (ping === SESSION_BUSY) return ping;
    const refused = this.protocol === 2;
    const reply = refused ? undefined : dispatch(this.#ctx, args);
    const silenced = (this.#quiet & (REPLY_OFF | SKIP_THIS)) !== 0;
    const frame = refused ? CLIENT_REPLY_SUBSCRIBED : reply instanceof CommandError ? Buffer.from(`-${reply.message}\r\n`) : STREAM_OK_FRAME;
    this.#streamAnswers.push(silenced ? STREAM_SILENCE : frame);
    return ping;
  }

  /**
   * In a cluster, a session's connection is to the node of its first keys: a command on keys of another
   * slot would get MOVED there. Refused with CROSSSLOT instead, as Redis Cluster refuses a transaction
   * across slots. The first keyed command of a session opened without keys fixes its slot.
   */
  #crossesSessionSlot(args: Buffer[]): false | 'keys' | 'slot' {
    if (!this.#ctx.proxy.backends.clustered) return false;
    const keys = commandKeys(args, this.#ctx.proxy.backends.table());
    if (keys === null || keys.length === 0) return false;
    const slot = slotOfKeys(keys)!;
    if (slot === -1) return 'keys';
    if (this.#sessionSlot !== undefined && slot !== this.#sessionSlot) return 'slot';
    this.#sessionSlot = slot;
    return false;
  }

  /**
   * MULTI in a cluster was answered here, and no session opened yet: the command after it opens one on
   * the node of its keys and sends MULTI there first (whose OK the client already had). Undefined: the
   * request runs in that session as usual.
   */
  #openPendingMulti(request: Buffer[]): Reply | typeof HOLD | undefined {
    const name = lower(request[0]!);
    if (name === 'exec' || name === 'discard') {
      const dirty = this.#multiDirty;
      this.#multiPending = this.#multiDirty = false;
      return name === 'discard' ? OK : dirty ? EXECABORT : [];
    }
    if (name === 'multi') return MULTI_NESTED;
    if (name === 'watch') return WATCH_IN_MULTI;
    if (name === 'reset' || name === 'quit') {
      this.#multiPending = this.#multiDirty = false;
      return undefined;
    }
    if (this.#outstanding > 0) return HOLD;
    const slot = slotOfKeys(commandKeys(request, this.#ctx.proxy.backends.table()) ?? []);
    const connection = slot === -1 ? CROSSSLOT_ERROR : this.#ctx.proxy.backends.pinned.acquire(this, this.protocol, this.db, slot);
    if (connection instanceof CommandError) {
      // As Redis refuses a command at queueing time: the transaction stays open, and EXEC aborts.
      this.#multiDirty = true;
      return connection;
    }
    const session = this.#openSession(connection, slot);
    const opened = session.run(MULTI);
    if (opened instanceof Promise) opened.catch(() => {});
    // A command refused before the session opened still aborts its EXEC.
    if (this.#multiDirty) session.refuseInTransaction(CROSSSLOT_ERROR);
    this.#multiPending = this.#multiDirty = false;
    return undefined;
  }

  /** The client's session starts on `connection`; `slot`: its keys' hash slot in a cluster, once known. */
  #openSession(connection: PinnedConnection, slot: number | undefined): Session {
    this.#session = new Session(this, this.#ctx.proxy.backends.pinned, connection);
    this.#sessionSlot = slot;
    this.#crossSlotAtExec = false;
    this.#lane = SESSION_LANE;
    return this.#session;
  }

  /** A read command through the cache, answered in the client's protocol. */
  #cachedRead(args: Buffer[], keys: string[]): Reply | Promise<Reply> {
    const result = this.#ctx.proxy.readThrough.readCommand(args, this.db, keys, this.protocol);
    return typeof result === 'string' ? new RawTextReply(result) : result.then(toRawTextReply);
  }

  /**
   * The client will send nothing more while its session waits on Redis (a blocked pop, a subscription):
   * the session ends now, and what it still owes is never written, as Redis frees such a client without
   * an answer (its library then reports the connection closed, which is what it expects while closing).
   */
  #abandonSession(): void {
    const session = this.#session!;
    this.#session = undefined;
    // Replies are written in order: nothing after the first one still awaited would have come either.
    let awaited = false;
    for (let i = this.#queueHead; i < this.#queue.length; i++) {
      const slot = this.#queue[i]!;
      awaited ||= !slot.settled;
      if (awaited) slot.dropped = true;
    }
    session.close();
  }

  /** A command on the shared connection of the client's protocol; the writes it acknowledges are invalidated before its reply is relayed. */
  #forward(args: Buffer[]): Promise<Reply> {
    const proxy = this.#ctx.proxy;
    const effect = writeEffect(args, proxy.backends.table());
    this.#lane = SHARED_LANE;
    proxy.stats.forwardedCommands++;
    return proxy.backends.forward(this.protocol, this.db, encodeCommand(args), args).then((frame) => {
      const reply = new RawReply(frame);
      if (effect === null || isErrorFrame(frame)) return reply;
      const invalidated = proxy.invalidate(effect);
      return invalidated === undefined ? reply : invalidated.then(() => reply);
    });
  }

  // SessionHost: what the client's session calls back.
  relay(frame: Buffer, push: boolean): void {
    if (!push) {
      // A command's reply: answered as CLIENT REPLY said when it ran (MONITOR's lines: as it says now).
      let answer: StreamAnswer = (this.#quiet & REPLY_OFF) !== 0 ? STREAM_SILENCE : STREAM_RELAY;
      if (this.#streamAnswersHead < this.#streamAnswers.length) {
        answer = this.#streamAnswers[this.#streamAnswersHead++]!;
        if (this.#streamAnswersHead === this.#streamAnswers.length) {
          this.#streamAnswers = [];
          this.#streamAnswersHead = 0;
        }
      }
      if (answer === STREAM_SILENCE) return;
      if (answer !== STREAM_RELAY) frame = answer;
    }
    this.#enqueue(new RawReply(frame));
    if (this.#queueHead === this.#queue.length) this.#flush();
  }

  invalidate(effect: Parameters<ProxyContext['invalidate']>[0]): void | Promise<void> {
    return this.#ctx.proxy.invalidate(effect);
  }

  ended(): void {
    this.#session = undefined;
    this.#sessionSlot = undefined;
    this.#crossSlotAtExec = false;
    this.#streamAnswers = [];
    this.#streamAnswersHead = 0;
    // A request held while the session wound down may go now.
    if (this.#held !== undefined && this.#outstanding === 0) queueMicrotask(this.#release);
  }

  lost(reason: string): void {
    this.#log.warn(`client ${this.id}: its subscription's backend connection was lost (${reason}); closing the client so it reconnects`, {
      event: 'session_lost',
      client: this.id,
      reason,
    });
    this.#session = undefined;
    this.#flush();
    this.#socket.destroy();
  }

  table() {
    return this.#ctx.proxy.backends.table();
  }

  kill(): void {
    this.#socket.destroy();
  }

  #enqueue(result: Reply | Promise<Reply>, silenced = false): void {
    if (!(result instanceof Promise)) {
      if (this.#queueHead === this.#queue.length) writeReply(result, this.protocol);
      else this.#queue.push({ reply: result, settled: true, protocol: this.protocol });
      return;
    }
    const slot: Slot = { reply: undefined, settled: false, protocol: this.protocol };
    if (silenced) slot.dropped = true;
    this.#queue.push(slot);
    this.#outstanding++;
    result.then(
      (reply) => this.#settle(slot, reply),
      (err: unknown) => {
        if (!(err instanceof ProxyError)) this.#log.error(`read failed: ${(err as Error)?.message ?? String(err)}`, { event: 'internal_error', err });
        this.#settle(slot, err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  #settle(slot: Slot, reply: Reply): void {
    slot.reply = reply;
    slot.settled = true;
    // The last outstanding command of its lane: a request held for another lane may go now.
    if (--this.#outstanding === 0 && this.#held !== undefined) queueMicrotask(this.#release);
    // Several lookups usually land in one backend read; write their replies together.
    if (!this.#drainScheduled) {
      this.#drainScheduled = true;
      setImmediate(this.#drain);
    }
  }

  /** Runs the held request, then goes on with what is buffered. */
  #release = (): void => {
    const held = this.#held;
    if (held === undefined || this.#outstanding > 0) return;
    this.#held = undefined;
    const result = this.#run(held);
    if (result === HOLD) {
      this.#held = held;
      return;
    }
    this.#count(held);
    if (this.#quiet !== 0) this.#answerQuietly(result);
    else if (result !== undefined) this.#enqueue(result);
    if (this.closeAfterReply) this.#stopInput();
    else if (!this.#paused && !this.#draining && !this.#inputStopped) this.#socket.resume();
    this.#process();
  };

  #drain = (): void => {
    this.#drainScheduled = false;
    try {
      const queue = this.#queue;
      while (this.#queueHead < queue.length && queue[this.#queueHead]!.settled && !this.#outputFull()) {
        const slot = queue[this.#queueHead++]!;
        if (!slot.dropped) writeReply(slot.reply!, slot.protocol);
      }
      if (this.#queueHead === queue.length) {
        this.#queue = [];
        this.#queueHead = 0;
      }
    } finally {
      this.#flush();
    }
    this.#resumeIfBelowLimits();
  };

  #outputFull(): boolean {
    return this.#socket.writableLength + batchBytes() > OUTPUT_LIMIT_BYTES;
  }

  #overLimits(): boolean {
    return this.#outputFull() || this.#queue.length - this.#queueHead > PENDING_LIMIT;
  }

  #resumeIfBelowLimits(): void {
    if (!this.#paused || this.#overLimits()) return;
    this.#paused = false;
    if (!this.#draining && !this.#inputStopped && this.#held === undefined) this.#socket.resume();
    // Requests may already sit decoded-to-be in the buffer; they will not arrive as a new 'data' event.
    this.#process();
  }

  /** Writes everything encoded since the last flush, in one write when possible. */
  #flush(): void {
    // Always take the batch, even for a closed socket: the encoder's buffer is shared.
    const batch = takeBatch();
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (Array.isArray(batch)) {
      socket.cork();
      for (const part of batch) socket.write(part);
      socket.uncork();
    } else if (batch !== null) socket.write(batch);
    if (this.#inputStopped && this.#queueHead === this.#queue.length && !socket.writableEnded) socket.end();
  }
}
