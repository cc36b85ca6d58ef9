// The one place that talks to the backing Redis: one pipelined connection, binary-safe GETs, bounded in time, self-reconnecting.
import net from 'node:net';
import tls from 'node:tls';
import RedisParser from 'redis-parser';
import { hostPort } from '../address.ts';
import type { BackendTarget } from '../config.ts';
import { BackendReplyError, BackendUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { PROXY_NAME } from '../version.ts';

export interface Backend {
  /** The value of `key` (its bytes as a latin1 string) as raw bytes, or null when Redis does not have it. */
  get(key: string): Promise<Buffer | null>;
  /** True while the connection is up and ready for commands. */
  isReady(): boolean;
  /** Resolves true once ready, or false when `timeoutMs` passes first. */
  waitReady(timeoutMs: number): Promise<boolean>;
  /** `host:port` of the backing Redis, for messages. */
  readonly address: string;
  close(): Promise<void>;
}

export interface BackendOptions {
  target: BackendTarget;
  /** Milliseconds a connect attempt, or a read with no reply, may take before it fails. */
  timeoutMs: number;
  log: Logger;
}

/** Reconnect attempts back off 50 ms, 100 ms, … up to this, so a restarted Redis is found within a second. */
const MAX_RECONNECT_DELAY_MS = 1000;

type Reply = Buffer | null;

interface Pending {
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

/** A command as RESP bytes, in a string of one char per byte: the arguments are latin1 strings too. */
function frame(args: readonly string[]): string {
  let text = `*${args.length}\r\n`;
  for (const arg of args) text += `$${arg.length}\r\n${arg}\r\n`;
  return text;
}

const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

/**
 * Why not ioredis: on the miss benchmark its per-command machinery (a Command object, argument
 * flattening, a promise and, with commandTimeout, a timer armed and cleared per GET) was the largest
 * part of the proxy's CPU after the socket writes. The proxy only ever sends GET, so this connection
 * does just that: requests are appended to one string per event-loop turn and written at once,
 * replies are matched in order by redis-parser, and one watchdog timer bounds the wait for them.
 */
export function createRedisBackend({ target, timeoutMs, log }: BackendOptions): Backend {
  const address = hostPort(target.host, target.port);
  const unavailable = (reason: string) => new BackendUnavailableError(`backend Redis at ${address} is unavailable (${reason})`);

  let socket: net.Socket | undefined;
  let ready = false;
  let closed = false;
  let everReady = false;
  let attempts = 0;
  let lastError = 'not connected yet';
  let reconnectTimer: NodeJS.Timeout | undefined;
  const readyWaiters = new Set<() => void>();

  // Requests written and not yet answered, oldest first (Redis answers in order).
  let fifo: (Pending | undefined)[] = [];
  let head = 0;
  // GETs of this event-loop turn, written together at its end, and how many they are.
  let batch = '';
  let batched = 0;
  // The watchdog: if requests wait and no reply has come for timeoutMs, the connection is dead.
  // Replies only bump a counter; the watchdog, a few times per timeout, turns that into a time.
  let replies = 0;
  let repliesAtLastCheck = 0;
  let lastProgressAt = 0;
  let watchdog: NodeJS.Timeout | undefined;

  const waiting = () => fifo.length - head;

  function takePending(): Pending | undefined {
    const pending = fifo[head];
    fifo[head++] = undefined;
    if (head === fifo.length) {
      fifo = [];
      head = 0;
    }
    return pending;
  }

  const parser = new RedisParser({
    returnBuffers: true,
    returnReply: (reply: Reply) => {
      replies++;
      const pending = takePending();
      if (pending) pending.resolve(reply);
      else socket?.destroy(new Error('reply without a request: connection out of step'));
    },
    returnError: (err: Error) => {
      replies++;
      // LOADING: Redis is up but still reading its dataset; reads fail until it is done.
      const error = err.message.startsWith('LOADING') ? unavailable(err.message) : new BackendReplyError(err.message);
      takePending()?.reject(error);
    },
    returnFatalError: (err: Error) => {
      socket?.destroy(new Error(`unreadable reply from Redis: ${err.message}`));
    },
  });

  function flush() {
    const text = batch;
    // Nothing was waiting for a reply before this write: the wait starts now.
    if (waiting() === batched) lastProgressAt = performance.now();
    batch = '';
    batched = 0;
    if (!socket || socket.destroyed || text === '') return;
    socket.write(text, 'latin1');
  }

  /** Adds one command to this turn's batch; its reply comes in order. */
  function enqueue(command: string): Promise<Reply> {
    const pending = Promise.withResolvers<Reply>();
    fifo.push(pending);
    batch += command;
    batched++;
    return pending.promise;
  }

  function failAll(reason: string) {
    const error = unavailable(reason);
    for (let i = head; i < fifo.length; i++) fifo[i]?.reject(error);
    fifo = [];
    head = 0;
    batch = '';
    batched = 0;
  }

  function connect() {
    reconnectTimer = undefined;
    const options = { host: target.host, port: target.port };
    const s: net.Socket = target.tls
      ? tls.connect({ ...options, servername: net.isIP(target.host) ? undefined : target.host })
      : net.connect(options);
    socket = s;
    parser.reset();
    s.setNoDelay(true);
    s.setKeepAlive(true, 60_000);
    const connectTimer = setTimeout(() => s.destroy(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
    s.once(target.tls ? 'secureConnect' : 'connect', () => {
      handshake().then(
        () => {
          clearTimeout(connectTimer);
          if (s !== socket) return;
          ready = true;
          attempts = 0;
          log.info(`backend ${address} ${everReady ? 'reconnected' : 'connected'}`);
          everReady = true;
          lastError = 'connection lost';
          for (const wake of readyWaiters) wake();
        },
        (err: Error) => s.destroy(err),
      );
    });
    s.on('data', (chunk: Buffer) => parser.execute(chunk));
    s.on('error', (err: Error) => {
      if (err.message !== lastError) log.warn(`backend ${address}: ${err.message}`);
      lastError = err.message;
    });
    s.once('close', () => {
      clearTimeout(connectTimer);
      if (s !== socket) return;
      if (ready && !closed) {
        const why = lastError === 'connection lost' ? '' : ` (${lastError})`;
        log.warn(`backend ${address}: connection lost${why}, reconnecting`);
      }
      ready = false;
      socket = undefined;
      failAll(lastError);
      if (!closed) reconnectTimer = setTimeout(connect, Math.min(++attempts * 50, MAX_RECONNECT_DELAY_MS));
    });
  }

  async function handshake() {
    const login = target.password === undefined ? [] : target.username ? [target.username, target.password] : [target.password];
    const steps = [
      ...(login.length ? [enqueue(frame(['AUTH', ...login.map(latin1)]))] : []),
      ...(target.db !== 0 ? [enqueue(frame(['SELECT', String(target.db)]))] : []),
    ];
    // Names the connection in CLIENT LIST; a Redis too old for it still serves us.
    const naming = enqueue(frame(['CLIENT', 'SETNAME', PROXY_NAME])).catch(() => null);
    flush();
    try {
      await Promise.all([...steps, naming]);
    } catch (err) {
      throw new Error(`handshake refused: ${(err as Error).message}`);
    }
  }

  function checkWatchdog() {
    const now = performance.now();
    if (replies !== repliesAtLastCheck) {
      repliesAtLastCheck = replies;
      lastProgressAt = now;
    } else if (socket && waiting() > batched && now - lastProgressAt >= timeoutMs) {
      socket.destroy(new Error(`no reply within ${timeoutMs} ms`));
    }
  }

  watchdog = setInterval(checkWatchdog, Math.max(10, timeoutMs / 4));
  watchdog.unref();
  connect();

  return {
    address,
    get(key) {
      if (!ready) return Promise.reject(unavailable(lastError));
      if (batch === '') setImmediate(flush);
      return enqueue(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`);
    },
    isReady: () => ready,
    waitReady(ms) {
      if (ready) return Promise.resolve(true);
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
      clearInterval(watchdog);
      clearTimeout(reconnectTimer);
      const s = socket;
      if (!s) return;
      const gone = new Promise((resolve) => s.once('close', resolve));
      s.end();
      const force = setTimeout(() => s.destroy(), 1000);
      await gone;
      clearTimeout(force);
    },
  };
}
