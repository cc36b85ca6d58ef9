// Owns the cached entries: an LRU (by reads) with one expiry for all, on lru-cache.
import { LRUCache } from 'lru-cache';
import type { Stats } from '../stats.ts';

/**
 * A cached read: the value's bytes as a string of one char per byte (latin1), or null when Redis
 * does not have the key. A one-byte string is one compact object in V8's heap (16 bytes of header),
 * where a Buffer is a view object plus a backing store outside it: about 100 bytes less per entry,
 * and nothing for the garbage collector to trace inside it.
 */
export type CachedValue = string | null;

/** Milliseconds on a monotonic clock; injectable so expiry can be tested without waiting. */
export interface Clock {
  now(): number;
}

export interface CacheStore {
  /** The fresh entry for `key`, or undefined when there is none (never cached, evicted or expired). */
  get(key: string): CachedValue | undefined;
  /** Stores `value` as fetched at `fetchedAt` (a `now()` reading): it expires `expiryMs` after that. */
  set(key: string, value: CachedValue, fetchedAt: number): void;
  now(): number;
  /** Entries held, including expired ones not yet dropped. */
  readonly size: number;
}

export interface CacheStoreOptions {
  capacity: number;
  expiryMs: number;
  stats: Stats;
  clock?: Clock;
}

// lru-cache cannot hold null, so an absence is stored as this marker.
const ABSENT = Symbol('absent');

// lru-cache's get() allocates an options object per call when given none; a hit should allocate nothing.
const GET_OPTIONS = {};

export function createCacheStore({ capacity, expiryMs, stats, clock = performance }: CacheStoreOptions): CacheStore {
  const lru = new LRUCache<string, string | typeof ABSENT>({
    max: capacity,
    ttl: expiryMs,
    // An entry's age counts from its fetch, never from later reads.
    updateAgeOnGet: false,
    // Read the clock on every check: a cached reading could serve an entry just past its expiry.
    ttlResolution: 0,
    perf: clock,
    dispose: (_value, _key, reason) => {
      if (reason === 'evict') stats.evictions++;
    },
  });

  return {
    get(key) {
      const entry = lru.get(key, GET_OPTIONS);
      return entry === ABSENT ? null : entry;
    },
    set(key, value, fetchedAt) {
      lru.set(key, value === null ? ABSENT : value, { start: fetchedAt });
    },
    now: () => clock.now(),
    get size() {
      return lru.size;
    },
  };
}
