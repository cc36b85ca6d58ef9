// Owns cached reads: answer from the store, else fetch once per key (single-flight) within MAX_PARALLEL.
import { Semaphore } from 'async-mutex';
import type { Backend } from '../backend/redis-backend.ts';
import type { Stats } from '../stats.ts';
import type { CacheStore, CachedValue } from './store.ts';

export interface ReadThrough {
  /**
   * The value of `key` (one char per byte, latin1), null when Redis does not have it.
   * A hit returns synchronously so the hot path allocates no promise; a miss returns a promise.
   */
  read(key: string): CachedValue | Promise<CachedValue>;
  /** Keys with a backend fetch in flight right now. */
  readonly inflight: number;
  /** Entries in the store. */
  readonly size: number;
}

export interface ReadThroughOptions {
  store: CacheStore;
  backend: Backend;
  stats: Stats;
  maxParallel: number;
}

/** Turns an HTTP or RESP key into the binary string the cache is keyed by. */
export const cacheKey = (bytes: Buffer): string => bytes.toString('latin1');

export function createReadThrough({ store, backend, stats, maxParallel }: ReadThroughOptions): ReadThrough {
  // Keys whose fetch is in flight, and the fetch every concurrent reader of that key shares.
  // A shared promise rather than a lock per key: waiters resolve together, and when a fetch fails
  // they all get that error instead of each retrying in turn against a backend that is down.
  const inflight = new Map<string, Promise<CachedValue>>();
  const backendSlots = new Semaphore(maxParallel);

  async function fetchAndStore(key: string): Promise<CachedValue> {
    const release = (await backendSlots.acquire())[1];
    try {
      // Expiry counts from when the request left, so a slow reply cannot stretch an entry's life.
      const fetchedAt = store.now();
      stats.backendReads++;
      const value = await backend.get(Buffer.from(key, 'latin1'));
      store.set(key, value, fetchedAt);
      return value;
    } catch (err) {
      stats.backendErrors++;
      throw err;
    } finally {
      release();
      // Same tick as store.set: no reader can find the key neither cached nor in flight.
      inflight.delete(key);
    }
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
      // fetchAndStore cannot settle before this set: its first step awaits the semaphore.
      const fetch = fetchAndStore(key);
      inflight.set(key, fetch);
      return fetch;
    },
    get inflight() {
      return inflight.size;
    },
    get size() {
      return store.size;
    },
  };
}
