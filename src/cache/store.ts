// Owns the cached entries: an LRU (by reads) with one expiry for all and a byte budget, on lru-cache.
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
  /**
   * Whether an entry for `key` with a value of `valueBytes` bytes may be cached: the value is at most
   * CACHE_MAX_VALUE_SIZE and the whole entry fits in CACHE_MAX_MEMORY. Asked before `set`, so a value
   * that will not be kept is never copied.
   */
  fits(key: string, valueBytes: number): boolean;
  /** Drops the entry for `key`, if any. */
  delete(key: string): void;
  /** Drops every entry. */
  clear(): void;
  /**
   * Stores `value` (which `fits`) as fetched at `fetchedAt` (a `now()` reading): it expires
   * `expiryMs` after that, or `ttlMs` after it when that is sooner (the key's own TTL in Redis; -1:
   * none; 0 stores nothing). Least recently read entries are evicted to stay within both limits.
   */
  set(key: string, value: CachedValue, fetchedAt: number, ttlMs?: number): void;
  now(): number;
  /** Entries held, including expired ones not yet dropped. */
  readonly size: number;
  /** Bytes charged for the entries held (see entryBytes), never more than maxMemory. */
  readonly bytes: number;
}

export interface CacheStoreOptions {
  capacity: number;
  expiryMs: number;
  /** Byte budget for all entries (CACHE_MAX_MEMORY). */
  maxMemory: number;
  /** Largest value cached, in bytes (CACHE_MAX_VALUE_SIZE); at most maxMemory. */
  maxValueSize: number;
  stats: Stats;
  clock?: Clock;
  /** Told when an entry leaves (evicted, expired, deleted), so an index of entries can follow. */
  onDrop?: (key: string) => void;
}

/**
 * What an entry costs beyond its key's and value's bytes: two string headers (16 bytes each, plus
 * rounding to 8), the Map entry and lru-cache's bookkeeping. Measured on Node 24 as the V8 heap
 * growth per entry, less key and value bytes, over 200 000 entries: 53 bytes for an absent key,
 * 69–78 for values of 5 bytes to 10 KB. The slots lru-cache preallocates per CACHE_CAPACITY
 * (40 bytes each) are paid at start whatever is stored, so they are not charged here.
 */
export const ENTRY_OVERHEAD_BYTES = 80;

/** Bytes an entry is charged against the budget: keys and values are one char per byte. */
export const entryBytes = (keyBytes: number, valueBytes: number): number => ENTRY_OVERHEAD_BYTES + keyBytes + valueBytes;

// lru-cache cannot hold null, so an absence is stored as this marker.
const ABSENT = Symbol('absent');

// lru-cache's get() allocates an options object per call when given none; a hit should allocate nothing.
const GET_OPTIONS = {};

export function createCacheStore({ capacity, expiryMs, maxMemory, maxValueSize, stats, clock = performance, onDrop }: CacheStoreOptions): CacheStore {
  const lru = new LRUCache<string, string | typeof ABSENT>({
    max: capacity,
    ttl: expiryMs,
    // Sizes are computed on set only; get() does no size work, so a hit costs what it did before.
    maxSize: maxMemory,
    sizeCalculation: (value, key) => entryBytes(key.length, value === ABSENT ? 0 : value.length),
    // An entry's age counts from its fetch, never from later reads.
    updateAgeOnGet: false,
    // Read the clock on every check: a cached reading could serve an entry just past its expiry.
    ttlResolution: 0,
    perf: clock,
    // Making room by count or by bytes are both evictions; expiry and replacement are not.
    dispose: (_value, key, reason) => {
      if (reason === 'evict') stats.evictions++;
      if (reason !== 'set') onDrop?.(key);
    },
  });

  return {
    get(key) {
      const entry = lru.get(key, GET_OPTIONS);
      return entry === ABSENT ? null : entry;
    },
    fits(key, valueBytes) {
      return valueBytes <= maxValueSize && entryBytes(key.length, valueBytes) <= maxMemory;
    },
    set(key, value, fetchedAt, ttlMs = -1) {
      if (ttlMs === 0) return;
      lru.set(key, value === null ? ABSENT : value, ttlMs > 0 && ttlMs < expiryMs ? { start: fetchedAt, ttl: ttlMs } : { start: fetchedAt });
    },
    delete(key) {
      lru.delete(key);
    },
    clear() {
      lru.clear();
    },
    now: () => clock.now(),
    get size() {
      return lru.size;
    },
    get bytes() {
      return lru.calculatedSize;
    },
  };
}
