// Owns cached reads: answer from the store, else fetch once per key (single-flight); and dropping what a write made stale.
import type { Backend } from '../backend/redis-backend.ts';
import { BackendReplyError, BackendTimeoutError } from '../errors.ts';
import type { Stats } from '../stats.ts';
import type { CacheStore, CachedValue } from './store.ts';

/**
 * What a read answers: the value's bytes (a latin1 string, as cached), or null when Redis does not
 * have the key. A value the cache does not keep (over CACHE_MAX_VALUE_SIZE, or fetched while a write
 * to its key was under way) is answered as the Buffer Redis sent: no copy is made of what is not kept.
 */
export type ReadValue = CachedValue | Buffer;

export interface ReadThrough {
  /**
   * The value of `key` (one char per byte, latin1) in database `db`, null when Redis does not have it.
   * A hit returns synchronously so the hot path allocates no promise; a miss returns a promise.
   */
  read(key: string, db: number): ReadValue | Promise<ReadValue>;
  /**
   * A write to `key` (in any database) was acknowledged, or is about to be: drop its entries, and
   * keep fetches already under way from storing or sharing what they read before it.
   */
  invalidate(key: string): void;
  /** Drops everything: a write whose keys cannot be known (FLUSHALL, a script), or the proxy cannot know. */
  clear(): void;
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

/**
 * The store's key for `key` in database `db`. Database 0's keys are stored as they are (the hot path
 * builds nothing); every other entry starts with two bytes no stored database-0 key starts with,
 * because such a key is itself moved under the prefix.
 */
function entryKey(key: string, db: number): string {
  if (db === 0 && !(key.charCodeAt(0) === 0xff && key.charCodeAt(1) === 0xfe)) return key;
  return `\xff\xfe${db}:${key}`;
}

/** A fetch under way, shared by every reader of its key until it lands or a write makes it stale. */
interface Fetch {
  readonly promise: Promise<ReadValue>;
  /** A write to the key was acknowledged meanwhile: what this fetch read may predate it. */
  stale: boolean;
}

export function createReadThrough({ store, backend, stats }: ReadThroughOptions): ReadThrough {
  // Keys whose fetch is in flight, and the fetch every concurrent reader of that key shares.
  // A shared promise rather than a lock per key: waiters resolve together, and when a fetch fails
  // they all get that error instead of each retrying in turn against a backend that is down.
  const inflight = new Map<string, Fetch>();
  // Databases read through the cache so far: an invalidation of a key looks in each.
  const databases = new Set<number>([0]);

  function fetch(ek: string, key: string, db: number): Fetch {
    // Expiry counts from when the request left, so a slow reply cannot stretch an entry's life.
    const fetchedAt = store.now();
    stats.backendReads++;
    const promise = backend.get(key, db).then(
      (reply) => {
        // Same tick as store.set: no reader can find the key neither cached nor in flight.
        if (inflight.get(ek) === entry) inflight.delete(ek);
        // Read before a write that was acknowledged meanwhile: answered to those who asked before it, not kept.
        if (entry.stale) {
          stats.staleFills++;
          return reply;
        }
        // Served to this reader and every one that joined the fetch, but not kept.
        if (!store.fits(ek, reply === null ? 0 : reply.length)) {
          stats.uncacheableValues++;
          return reply;
        }
        // The string is the cache's own compact copy: the reply is a view into the whole socket read.
        const value = reply === null ? null : reply.toString('latin1');
        store.set(ek, value, fetchedAt);
        return value;
      },
      (err: unknown) => {
        if (inflight.get(ek) === entry) inflight.delete(ek);
        if (err instanceof BackendReplyError) stats.backendReplyErrors++;
        else if (err instanceof BackendTimeoutError) stats.backendTimeouts++;
        else stats.backendUnavailable++;
        throw err;
      },
    );
    const entry: Fetch = { promise, stale: false };
    return entry;
  }

  return {
    read(key, db) {
      const ek = db === 0 && key.charCodeAt(0) !== 0xff ? key : entryKey(key, db);
      const cached = store.get(ek);
      if (cached !== undefined) {
        stats.cacheHits++;
        return cached;
      }
      stats.cacheMisses++;
      const pending = inflight.get(ek);
      if (pending !== undefined) {
        stats.coalescedReads++;
        return pending.promise;
      }
      if (db !== 0) databases.add(db);
      // The backend holds fetches to MAX_PARALLEL in flight and bounds each by REDIS_TIMEOUT.
      const started = fetch(ek, key, db);
      inflight.set(ek, started);
      return started.promise;
    },
    invalidate(key) {
      for (const db of databases) {
        const ek = entryKey(key, db);
        store.delete(ek);
        const pending = inflight.get(ek);
        if (pending !== undefined) {
          // Readers from now on start a fetch of their own, which Redis answers after the write.
          pending.stale = true;
          inflight.delete(ek);
        }
      }
    },
    clear() {
      store.clear();
      for (const pending of inflight.values()) pending.stale = true;
      inflight.clear();
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
