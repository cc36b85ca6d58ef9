// The one place that talks to the backing Redis: binary-safe GETs over ioredis, bounded in time, self-reconnecting.
import { Redis } from 'ioredis';
import type { BackendTarget } from '../config.ts';
import { BackendReplyError, BackendUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface Backend {
  /** The value of `key` (raw bytes), or null when Redis does not have it. */
  get(key: Buffer): Promise<Buffer | null>;
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
  /** Milliseconds a read (or a connect attempt) may take before it fails. */
  timeoutMs: number;
  log: Logger;
}

/** Reconnect attempts back off 50 ms, 100 ms, … up to this, so a restarted Redis is found within a second. */
const MAX_RECONNECT_DELAY_MS = 1000;

export function createRedisBackend({ target, timeoutMs, log }: BackendOptions): Backend {
  const address = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  let lastError = 'not connected yet';
  let wasReady = false;

  const client = new Redis({
    host: target.host,
    port: target.port,
    username: target.username,
    password: target.password,
    db: target.db,
    tls: target.tls ? {} : undefined,
    // GET is all the proxy sends; RESP2 is understood by every Redis version.
    protocol: 2,
    connectionName: 'redis-cache-proxy',
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // Fail fast while Redis is down instead of queueing reads behind a reconnect; the next read tries again.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt: number) => Math.min(attempt * 50, MAX_RECONNECT_DELAY_MS),
    // Misses issued in the same tick leave in one write.
    enableAutoPipelining: true,
  });

  client.on('error', (err: Error) => {
    const text = err.message || String(err);
    if (text !== lastError) log.warn(`backend ${address}: ${text}`);
    lastError = text;
  });
  client.on('ready', () => {
    log.info(`backend ${address} ${wasReady ? 'reconnected' : 'connected'}`);
    wasReady = true;
    lastError = 'connection lost';
  });
  client.on('close', () => {
    if (wasReady && lastError === 'connection lost') log.warn(`backend ${address}: connection lost, reconnecting`);
  });

  function toProxyError(err: unknown): Error {
    const message = err instanceof Error ? err.message : String(err);
    // Redis's own error replies (WRONGTYPE, NOPERM, …) carry an upper-case prefix; relay them unchanged.
    if (err instanceof Error && err.name === 'ReplyError' && /^[A-Z]+ /.test(message) && !message.startsWith('LOADING')) {
      return new BackendReplyError(message);
    }
    const reason = client.status === 'ready' ? message : lastError;
    return new BackendUnavailableError(`backend Redis at ${address} is unavailable (${reason})`, { cause: err });
  }

  return {
    address,
    get(key) {
      return client.getBuffer(key).catch((err: unknown) => {
        throw toProxyError(err);
      });
    },
    isReady: () => client.status === 'ready',
    waitReady(ms) {
      if (client.status === 'ready') return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (ready: boolean) => {
          clearTimeout(timer);
          client.off('ready', onReady);
          resolve(ready);
        };
        const onReady = () => done(true);
        const timer = setTimeout(() => done(false), ms);
        client.on('ready', onReady);
      });
    },
    async close() {
      client.disconnect(false);
    },
  };
}
