// Owns cached reads: answer from the store, else fetch once per key (single-flight).
import type { Backend } from '../backend/redis-backend.ts';
import { BackendReplyError, BackendTimeoutError } from '../errors.ts';
import type { Stats } from '../stats.ts';
import type { CacheStore, CachedValue } from './store.ts';

/**
 * What a read answers: the value's bytes (a latin1 string, as cached), or null when Redis does not
 * have the key. A value the cache does not keep (over CACHE_MAX_VALUE_SIZE) is answered as the
 * Buffer Redis sent: no copy is made of what will not be kept.
 */
export type ReadValue = CachedValue | Buffer;

export interface ReadThrough {
  /**
   * The value of `key` (one char per byte, latin1), null when Redis does not have it.
   * A hit returns synchronously so the hot path allocates no promise; a miss returns a promise.
   */
  read(key: string): ReadValue | Promise<ReadValue>;
  /** Keys with a backend fetch in flight right now. */
  readonly inflight: number;
  /** Entries in the store. */
  readonly size: number;
  /** Bytes the store's entries are charged. */
  readonly bytes: number;
}

export interface ReadThroughOptions {
  store: CacheStore;
  backend: Backend;
  stats: Stats;
}

/** Turns an HTTP or RESP key into the binary string the cache is keyed by. */
export const cacheKey = (bytes: Buffer): string => bytes.toString('latin1');

export function createReadThrough({ store, backend, stats }: ReadThroughOptions): ReadThrough {
  // Keys whose fetch is in flight, and the fetch every concurrent reader of that key shares.
  // A shared promise rather than a lock per key: waiters resolve together, and when a fetch fails
  // they all get that error instead of each retrying in turn against a backend that is down.
  const inflight = new Map<string, Promise<ReadValue>>();

  function fetch(key: string): Promise<ReadValue> {
    // Expiry counts from when the request left, so a slow reply cannot stretch an entry's life.
    const fetchedAt = store.now();
    stats.backendReads++;
    return backend.get(key).then(
      (reply) => {
        // Same tick as store.set: no reader can find the key neither cached nor in flight.
        inflight.delete(key);
        // Served to this reader and every one that joined the fetch, but not kept.
        if (!store.fits(key, reply === null ? 0 : reply.length)) {
          stats.uncacheableValues++;
          return reply;
        }
        // The string is the cache's own compact copy: the reply is a view into the whole socket read.
        const value = reply === null ? null : reply.toString('latin1');
        store.set(key, value, fetchedAt);
        return value;
      },
      (err: unknown) => {
        inflight.delete(key);
        if (err instanceof BackendReplyError) stats.backendReplyErrors++;
        else if (err instanceof BackendTimeoutError) stats.backendTimeouts++;
        else stats.backendUnavailable++;
        throw err;
      },
    );
  }

  return {
    read(key) {
      const cached = store.get(key);
      if (cached !== undefined) {
        stats.cacheHits++;
        return cached;
      }
      stats.cacheMisses++;
      const pending = inflight.get(key);
      if (pending !== undefined) {
        stats.coalescedReads++;
        return pending;
      }
      // The backend holds fetches to MAX_PARALLEL in flight and bounds each by REDIS_TIMEOUT.
      const result = fetch(key);
      inflight.set(key, result);
      return result;
    },
    get inflight() {
      return inflight.size;
    },
    get size() {
      return store.size;
    },
    get bytes() {
      return store.bytes;
    },
  };
}
