// Owns cached reads: answer from the store, else fetch once per key (single-flight); and dropping what a write made stale.
import { type Backend, ttlOf } from '../backend/redis-backend.ts';
import { BackendReplyError, BackendTimeoutError } from '../errors.ts';
import type { Stats } from '../stats.ts';
import { encodeCommand } from '../resp/command-encoder.ts';
import { resp3ToResp2 } from '../resp/resp3-to-resp2.ts';
import type { KeyIndex } from './key-index.ts';
import type { CacheStore, CachedValue } from './store.ts';

/**
 * What a read answers: the value's bytes (a latin1 string, as cached), or null when Redis does not
 * have the key. A value the cache does not keep (over CACHE_MAX_VALUE_SIZE, or fetched while a write
 * to its key was under way) is answered as the Buffer Redis sent: no copy is made of what is not kept.
 */
export type ReadValue = CachedValue | Buffer;

export interface ReadThrough {
  /**
   * A cached read command's reply (HGETALL h, …: `args` in full, its name first) in `protocol`, one char
   * per byte: the RESP3 frame Redis sent, or its RESP2 form converted once when it was fetched (each
   * protocol has its own entries, so a hit does no conversion). `keys` are the Redis keys it reads, for
   * invalidation. Error replies are answered, never cached.
   */
  readCommand(args: readonly Buffer[], db: number, keys: readonly string[], protocol: 2 | 3): string | Promise<string>;
  /**
   * The value of `key` (one char per byte, latin1) in database `db`, null when Redis does not have it.
   * A hit returns synchronously so the hot path allocates no promise; a miss returns a promise.
   */
  read(key: string, db: number): ReadValue | Promise<ReadValue>;
  /**
   * `key` changed (in some database): drop its entries. `inflight`: also keep fetches already under
   * way from storing or sharing what they read — needed when the news came on another connection than
   * the fills (a write's reply). Redis's invalidations share the fills' connection: one arriving before
   * a fetch's value is older than that value; only fetches whose value came already are stopped.
   */
  invalidate(key: string, inflight?: boolean): void;
  /** Drops everything (FLUSHALL, a write that names no key, tracking lost); `inflight` as for invalidate(). */
  clear(inflight?: boolean): void;
  /** Entries of read commands other than GET (cached or being fetched), by command. */
  readonly entriesByCommand: ReadonlyMap<string, number>;
  /** Keys with a backend fetch in flight right now. */
  readonly inflight: number;
  /** Entries in the store. */
  readonly size: number;
  /** Bytes the store's entries are charged. */
  readonly bytes: number;
}

export interface ReadThroughOptions {
  store: CacheStore;
  /** Which cached read commands read which keys; the store tells it when entries leave. */
  index: KeyIndex;
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

/**
 * The store's key for a cached read command: a prefix no GET entry has, the database, and every
 * argument with its length (so no two requests share one), the command's name in lower case.
 */
function commandEntryKey(args: readonly Buffer[], db: number, protocol: 2 | 3): string {
  let ek = `\xff\xfe#${protocol}${db}`;
  for (let i = 0; i < args.length; i++) {
    const arg = i === 0 ? args[0]!.toString('latin1').toLowerCase() : args[i]!.latin1Slice(0, args[i]!.length);
    ek += `:${arg.length}:${arg}`;
  }
  return ek;
}

/** A fetch under way, shared by every reader of its key until it lands or a write makes it stale. */
interface Fetch<T = ReadValue> {
  readonly promise: Promise<T>;
  /** A write to the key was acknowledged meanwhile: what this fetch read may predate it. */
  stale: boolean;
  /**
   * Its value came, and it waits for the key's TTL: an invalidation Redis sends from now on is
   * about a change after the value was read, so it makes the fetch stale (one that came before the
   * value is older than it, and leaves it alone).
   */
  read: boolean;
}

export function createReadThrough({ store, index, backend, stats }: ReadThroughOptions): ReadThrough {
  // Keys whose fetch is in flight, and the fetch every concurrent reader of that key shares.
  // A shared promise rather than a lock per key: waiters resolve together, and when a fetch fails
  // they all get that error instead of each retrying in turn against a backend that is down.
  const inflight = new Map<string, Fetch>();
  const inflightCommands = new Map<string, Fetch<string>>();
  // Databases read through the cache so far: an invalidation of a key looks in each.
  const databases = new Set<number>([0]);

  function fetch(ek: string, key: string, db: number): Fetch {
    // Expiry counts from when the request left, so a slow reply cannot stretch an entry's life.
    const fetchedAt = store.now();
    stats.backendReads++;
    const promise = backend
      .get(key, db, () => {
        entry.read = true;
      })
      .then(
        ([reply, ttl]) => settleFill(ek, entry, fetchedAt, reply, ttlOf(ttl)),
        (err: unknown) => {
          if (inflight.get(ek) === entry) inflight.delete(ek);
          countError(err);
          throw err;
        },
      );
    const entry: Fetch = { promise, stale: false, read: false };
    return entry;
  }

  /** A fill's value came, and its key's TTL: stored unless stale or too big; answered either way. */
  function settleFill(ek: string, entry: Fetch, fetchedAt: number, reply: Buffer | null, ttlMs: number): ReadValue {
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
    store.set(ek, value, fetchedAt, ttlMs);
    return value;
  }

  function countError(err: unknown): void {
    if (err instanceof BackendReplyError) stats.backendReplyErrors++;
    else if (err instanceof BackendTimeoutError) stats.backendTimeouts++;
    else stats.backendUnavailable++;
  }

  function fetchCommand(ek: string, args: readonly Buffer[], db: number, keys: readonly string[], protocol: 2 | 3): Fetch<string> {
    const fetchedAt = store.now();
    stats.backendReads++;
    const fill = backend.read(encodeCommand(args), db, keys);
    const settle = (reply: Buffer, ttlMs: number): string => {
      if (inflightCommands.get(ek) === entry) inflightCommands.delete(ek);
      const resp3 = reply.latin1Slice(0, reply.length);
      const frame = protocol === 2 ? resp3ToResp2(resp3) : resp3;
      if (entry.stale) stats.staleFills++;
      else if (reply[0] === 0x2d /* - */ || reply[0] === 0x21 /* ! */) stats.backendReplyErrors++;
      else if (!store.fits(ek, frame.length)) stats.uncacheableValues++;
      else if (ttlMs !== 0) {
        store.set(ek, frame, fetchedAt, ttlMs);
        return frame;
      }
      // Not kept: forget it, unless a newer fetch of the same read has taken its place meanwhile.
      if (!inflightCommands.has(ek) && store.get(ek) === undefined) index.drop(ek);
      return frame;
    };
    const promise = fill.value.then(
      (reply: Buffer) => {
        entry.read = true;
        return fill.ttlMs.then(
          (ttlMs) => settle(reply, ttlMs),
          () => settle(reply, 0),
        );
      },
      (err: unknown) => {
        if (inflightCommands.get(ek) === entry) inflightCommands.delete(ek);
        if (!inflightCommands.has(ek)) index.drop(ek);
        countError(err);
        throw err;
      },
    );
    fill.ttlMs.catch(() => {});
    const entry: Fetch<string> = { promise, stale: false, read: false };
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
    readCommand(args, db, keys, protocol) {
      const ek = commandEntryKey(args, db, protocol);
      const cached = store.get(ek);
      if (cached !== undefined && cached !== null) {
        stats.cacheHits++;
        return cached;
      }
      stats.cacheMisses++;
      const pending = inflightCommands.get(ek);
      if (pending !== undefined) {
        stats.coalescedReads++;
        return pending.promise;
      }
      // Indexed before it is sent: a write acknowledged while it is under way must find it.
      index.add(ek, keys, args[0]!.toString('latin1').toLowerCase());
      const started = fetchCommand(ek, args, db, keys, protocol);
      inflightCommands.set(ek, started);
      return started.promise;
    },
    invalidate(key, detach = true) {
      for (const ek of index.entriesOf(key)) {
        store.delete(ek);
        const pending = inflightCommands.get(ek);
        const drop = pending !== undefined && (detach || pending.read);
        if (drop) {
          pending.stale = true;
          inflightCommands.delete(ek);
        }
        if (pending === undefined || drop) index.drop(ek);
      }
      for (const db of databases) {
        const ek = entryKey(key, db);
        store.delete(ek);
        const pending = inflight.get(ek);
        if (pending !== undefined && (detach || pending.read)) {
          // Readers from now on start a fetch of their own, which Redis answers after the write.
          pending.stale = true;
          inflight.delete(ek);
        }
      }
    },
    clear(detach = true) {
      // Stored entries leave the index as they leave the store; fetches under way stay in it.
      store.clear();
      if (!detach) {
        // Redis flushed: fetches whose value came already (waiting for its TTL) read what is gone.
        for (const [ek, pending] of inflight) {
          if (!pending.read) continue;
          pending.stale = true;
          inflight.delete(ek);
        }
        for (const [ek, pending] of inflightCommands) {
          if (!pending.read) continue;
          pending.stale = true;
          inflightCommands.delete(ek);
          index.drop(ek);
        }
        return;
      }
      for (const pending of inflight.values()) pending.stale = true;
      for (const pending of inflightCommands.values()) pending.stale = true;
      inflight.clear();
      inflightCommands.clear();
      index.clear();
    },
    get inflight() {
      return inflight.size + inflightCommands.size;
    },
    get entriesByCommand() {
      return index.byCommand();
    },
    get size() {
      return store.size;
    },
    get bytes() {
      return store.bytes;
    },
  };
}
