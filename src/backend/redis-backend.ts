// Owns the cache's way to Redis: the connection that fills the cache, reading values in a client's database.
import type { BackendTarget } from '../config.ts';
import type { Logger } from '../log.ts';
import type { LatencyHistogram } from '../stats.ts';
import { PROXY_NAME } from '../version.ts';
import { type BackendClient, createBackendClient } from './client.ts';

export interface Backend extends Omit<BackendClient, 'send'> {
  /** The value of `key` (its bytes as a latin1 string) in database `db`, or null when Redis does not have it. */
  get(key: string, db: number): Promise<Buffer | null>;
}

export interface BackendOptions {
  target: BackendTarget;
  /** Milliseconds a read may take from when it is queued (REDIS_TIMEOUT); also bounds a connect attempt. */
  timeoutMs: number;
  /** Most reads awaiting a reply at once (MAX_PARALLEL). */
  maxInFlight: number;
  /** Where each read's reply latency is counted. */
  latency: LatencyHistogram;
  log: Logger;
}

/** The fill connection: GETs are reads, so they are retried when their connection dies. */
export function createRedisBackend({ target, timeoutMs, maxInFlight, latency, log }: BackendOptions): Backend {
  const client = createBackendClient({ target, protocol: 2, replies: 'value', name: PROXY_NAME, timeoutMs, maxInFlight, latency, logs: true, log });
  return {
    address: client.address,
    get: (key, db) => client.send(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`, true, db),
    isReady: () => client.isReady(),
    get unavailableReason() {
      return client.unavailableReason;
    },
    waitReady: (ms) => client.waitReady(ms),
    close: () => client.close(),
  };
}
