// Read-through logic against a backend whose replies the test releases one by one, so the order is exact.
// (The same properties are proven against a real Redis in test/e2e.)
import test from 'ava';
import type { Backend } from '../../src/backend/redis-backend.ts';
import { KeyIndex } from '../../src/cache/key-index.ts';
import { createReadThrough } from '../../src/cache/read-through.ts';
import { createCacheStore } from '../../src/cache/store.ts';
import { withResolvers } from '../../src/deferred.ts';
import { BackendReplyError, BackendTimeoutError, BackendUnavailableError } from '../../src/errors.ts';
import { createStats } from '../../src/stats.ts';

interface PendingGet {
  key: string;
  db: number;
  /** Answers the fill: the value and the key's PTTL (-1: none). */
  resolve(value: Buffer | null, ttlMs?: number): void;
  reject(err: Error): void;
  /** The two replies one at a time: the value, then the PTTL. */
  value(v: Buffer | null): void;
  ttl(ms: number): void;
}

function setup({ expiryMs = 60_000, capacity = 100, maxMemory = 1 << 30, maxValueSize = 1 << 20 } = {}) {
  const calls: PendingGet[] = [];
  const backend: Backend = {
    address: 'test',
    // GET and PTTL answered together, as the backend's pair is: onValue as the value is read, then both.
    get: (key, db, onValue) => {
      const pair = withResolvers<[Buffer | null, Buffer | null]>();
      let value: Buffer | null = null;
      calls.push({
        key,
        db,
        resolve: (v, ttlMs = -1) => {
          onValue();
          pair.resolve([v, Buffer.from(`:${ttlMs}\r\n`)]);
        },
        reject: (err) => pair.reject(err),
        value: (v) => {
          value = v;
          onValue();
        },
        ttl: (ms) => pair.resolve([value, Buffer.from(`:${ms}\r\n`)]),
      });
      return pair.promise;
    },
    isReady: () => true,
    unavailableReason: '',
    tracking: 'on',
    trackingReason: '',
    barrier: () => Promise.resolve(),
    read: () => ({ value: Promise.reject(new Error('not in these tests')), ttlMs: Promise.resolve(-1) }),
    control: () => Promise.reject(new Error('not in these tests')),
    cachesReads: false,
    waitReady: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
  const clock = {
    t: 10_000,
    now() {
      return this.t;
    },
  };
  const stats = createStats();
  const index = new KeyIndex();
  const store = createCacheStore({ capacity, expiryMs, maxMemory, maxValueSize, stats, clock, onDrop: (entry) => index.drop(entry) });
  const cache = createReadThrough({ store, index, backend, stats });
  return { calls, clock, stats, cache };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a hit answers synchronously and never reaches the backend', async (t) => {
  const { calls, cache } = setup();
  const first = cache.read('k', 0);
  await tick();
  calls[0]!.resolve(Buffer.from('v'));
  t.is(await first, 'v');
  const second = cache.read('k', 0);
  t.false(second instanceof Promise);
  t.is(second, 'v');
  t.is(calls.length, 1);
});

test('a key that expires in Redis leaves the cache by its own TTL, sooner than CACHE_EXPIRY; one about to expire is not kept', async (t) => {
  const { calls, clock, cache } = setup({ expiryMs: 60_000 });
  const first = cache.read('session', 0);
  await tick();
  calls[0]!.resolve(Buffer.from('token'), 500);
  t.is(await first, 'token');
  clock.t += 499;
  t.is(cache.read('session', 0), 'token', 'fresh until its TTL');
  clock.t += 2;
  const after = cache.read('session', 0);
  t.true(after instanceof Promise, 'expired with the key: read from Redis again');
  await tick();
  calls[1]!.resolve(Buffer.from('token'), 0);
  t.is(await after, 'token');
  const again = cache.read('session', 0);
  t.true(again instanceof Promise, 'a PTTL of 0 is not kept');
  await tick();
  calls[2]!.resolve(null);
  t.is(await again, null);
  clock.t += 59_999;
  t.is(cache.read('session', 0), null, 'no TTL: CACHE_EXPIRY');
});

test("Redis's invalidation arriving between a fill's value and its TTL keeps the value from being cached; one arriving before the value does not", async (t) => {
  const { calls, stats, cache } = setup();
  const first = cache.read('k', 0);
  await tick();
  calls[0]!.value(Buffer.from('old'));
  await Promise.resolve();
  cache.invalidate('k', false);
  calls[0]!.ttl(-1);
  t.is(String(await first), 'old', 'answered to whoever asked before the change');
  t.is(stats.staleFills, 1);
  const second = cache.read('k', 0);
  t.true(second instanceof Promise, 'not cached: the change came after it was read');
  await tick();
  cache.invalidate('k', false);
  calls[1]!.resolve(Buffer.from('new'));
  t.is(await second, 'new');
  t.is(cache.read('k', 0), 'new', 'an invalidation before the value is older than it: cached');
});

test('N concurrent reads of one missing key make one backend read and all get the value', async (t) => {
  const { calls, stats, cache } = setup();
  const reads = Array.from({ length: 40 }, () => cache.read('k', 0));
  await tick();
  t.is(calls.length, 1);
  t.is(cache.inflight, 1);
  calls[0]!.resolve(Buffer.from('v'));
  const values = await Promise.all(reads as Promise<unknown>[]);
  t.true(values.every((v) => v === 'v'));
  t.is(stats.coalescedReads, 39);
  t.is(stats.backendReads, 1);
  t.is(cache.inflight, 0, 'the in-flight map holds only keys being fetched');
});

test('reads of different keys never wait on each other', async (t) => {
  const { calls, cache } = setup();
  const slow = cache.read('slow', 0);
  const fast = cache.read('fast', 0);
  await tick();
  t.deepEqual(
    calls.map((c) => c.key),
    ['slow', 'fast'],
  );
  calls[1]!.resolve(Buffer.from('F'));
  t.is(await fast, 'F');
  let slowDone = false;
  void (slow as Promise<unknown>).then(() => (slowDone = true));
  await tick();
  t.false(slowDone);
  calls[0]!.resolve(Buffer.from('S'));
  t.is(await slow, 'S');
});

test("a cached value is the reply's bytes as a latin1 string, a copy independent of the socket's buffer", async (t) => {
  const { calls, cache } = setup();
  const read = cache.read('bin', 0);
  await tick();
  const chunk = Buffer.from([0x2a, 0, 13, 10, 255, 0x2a]);
  calls[0]!.resolve(chunk.subarray(1, 5));
  t.is(await read, '\x00\r\n\xff');
  chunk.fill(0);
  t.is(cache.read('bin', 0), '\x00\r\n\xff');
});

test('an absent key is cached as absent', async (t) => {
  const { calls, cache } = setup();
  const first = cache.read('nope', 0);
  await tick();
  calls[0]!.resolve(null);
  t.is(await first, null);
  t.is(cache.read('nope', 0), null);
  t.is(calls.length, 1);
});

test('a failed fetch fails every waiter, caches nothing, and the next read tries again', async (t) => {
  const { calls, stats, cache } = setup();
  const reads = [cache.read('k', 0), cache.read('k', 0), cache.read('k', 0)];
  await tick();
  calls[0]!.reject(new BackendUnavailableError('backend down'));
  for (const read of reads) await t.throwsAsync(read as Promise<unknown>, { instanceOf: BackendUnavailableError });
  t.is(stats.backendUnavailable, 1, 'one failed fetch, however many waited for it');
  t.is(cache.inflight, 0);
  const retry = cache.read('k', 0);
  t.true(retry instanceof Promise);
  await tick();
  t.is(calls.length, 2);
  calls[1]!.resolve(Buffer.from('back'));
  t.is(await retry, 'back');
});

test('failed fetches are counted by kind: unavailable, timeout, error reply', async (t) => {
  const { calls, stats, cache } = setup();
  const reads = ['a', 'b', 'c', 'd'].map((k) => cache.read(k, 0) as Promise<unknown>);
  await tick();
  calls[0]!.reject(new BackendUnavailableError('backend Redis at h:1 is unavailable (connect ECONNREFUSED)'));
  calls[1]!.reject(new BackendTimeoutError('backend Redis at h:1 is unavailable (no reply within 2000 ms)'));
  calls[2]!.reject(new BackendReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'));
  calls[3]!.reject(new BackendTimeoutError('backend Redis at h:1 is unavailable (no reply within 2000 ms)'));
  for (const read of reads) await t.throwsAsync(read);
  t.deepEqual([stats.backendReads, stats.backendUnavailable, stats.backendTimeouts, stats.backendReplyErrors], [4, 1, 2, 1]);
});

test('a fetched entry expires CACHE_EXPIRY after its request left, however slow the reply', async (t) => {
  const { calls, clock, cache } = setup({ expiryMs: 1000 });
  const read = cache.read('k', 0);
  await tick();
  clock.t += 600;
  calls[0]!.resolve(Buffer.from('v1'));
  await read;
  clock.t += 400;
  t.is(cache.read('k', 0), 'v1');
  clock.t += 1;
  const again = cache.read('k', 0);
  t.true(again instanceof Promise, 'expired: fetched again');
  await tick();
  calls[1]!.resolve(Buffer.from('v2'));
  t.is(await again, 'v2');
});

test('a value over CACHE_MAX_VALUE_SIZE reaches every reader of its fetch, is not cached, and is counted', async (t) => {
  const { calls, stats, cache } = setup({ maxValueSize: 10 });
  const big = Buffer.from('0123456789A');
  const reads = [cache.read('big', 0), cache.read('big', 0), cache.read('big', 0)];
  await tick();
  t.is(calls.length, 1);
  calls[0]!.resolve(big);
  for (const value of await Promise.all(reads as Promise<unknown>[])) t.true(Buffer.isBuffer(value) && value.equals(big));
  t.is(stats.uncacheableValues, 1);
  t.is(cache.size, 0);
  t.is(cache.bytes, 0);
  const again = cache.read('big', 0);
  t.true(again instanceof Promise, 'not cached: the next read fetches again');
  await tick();
  calls[1]!.resolve(Buffer.from('0123456789'));
  t.is(await again, '0123456789', 'at the limit it is cached');
  t.is(cache.read('big', 0), '0123456789');
  t.is(stats.uncacheableValues, 1);
  t.is(calls.length, 2);
});

test('an entry whose key alone exceeds CACHE_MAX_MEMORY is answered (even as absent) and not cached', async (t) => {
  const { calls, stats, cache } = setup({ maxMemory: 200, maxValueSize: 100 });
  const key = 'k'.repeat(300);
  const first = cache.read(key, 0);
  await tick();
  calls[0]!.resolve(null);
  t.is(await first, null);
  t.is(stats.uncacheableValues, 1);
  t.true(cache.read(key, 0) instanceof Promise);
});

test('the same key in two databases is two entries, each fetched from its own database', async (t) => {
  const { calls, cache } = setup();
  const zero = cache.read('k', 0);
  const one = cache.read('k', 1);
  await tick();
  t.deepEqual(
    calls.map((c) => [c.key, c.db]),
    [
      ['k', 0],
      ['k', 1],
    ],
  );
  calls[0]!.resolve(Buffer.from('zero'));
  calls[1]!.resolve(Buffer.from('one'));
  t.deepEqual([await zero, await one], ['zero', 'one']);
  t.deepEqual([cache.read('k', 0), cache.read('k', 1)], ['zero', 'one']);
});

test("a database-0 key that looks like another database's entry key stays apart from it", async (t) => {
  const { calls, cache } = setup();
  const tricky = '\xff\xfe1:k';
  const a = cache.read(tricky, 0);
  const b = cache.read('k', 1);
  await tick();
  calls[0]!.resolve(Buffer.from('db0 tricky'));
  calls[1]!.resolve(Buffer.from('db1 k'));
  t.deepEqual([await a, await b], ['db0 tricky', 'db1 k']);
  t.deepEqual([cache.read(tricky, 0), cache.read('k', 1)], ['db0 tricky', 'db1 k']);
  cache.invalidate(tricky);
  t.true(cache.read(tricky, 0) instanceof Promise);
  t.is(cache.read('k', 1), 'db1 k');
});

test('invalidate drops the key in every database; a fetch under way is neither stored nor joined', async (t) => {
  const { calls, cache } = setup();
  for (const db of [0, 3]) {
    const read = cache.read('k', db);
    await tick();
    calls.at(-1)!.resolve(Buffer.from(`old${db}`));
    await read;
  }
  const racing = cache.read('k', 0); // Will be answered with what Redis had before the write.
  t.is(racing, 'old0');
  cache.invalidate('k');
  const before = cache.read('k', 0);
  await tick();
  cache.invalidate('k'); // The write's reply arrives while this fetch is under way.
  const after = cache.read('k', 0);
  t.not(after, before, 'a read after the write does not join the fetch from before it');
  await tick();
  t.is(calls.length, 4);
  calls[2]!.resolve(Buffer.from('old0'));
  calls[3]!.resolve(Buffer.from('new0'));
  t.deepEqual(await before, Buffer.from('old0'), 'answered to the read that came before the write');
  t.is(await after, 'new0');
  t.is(cache.read('k', 0), 'new0', 'only what was read after the write is kept');
  t.true(cache.read('k', 3) instanceof Promise, 'database 3 dropped too');
});

test('clear drops every entry and makes every fetch under way stale', async (t) => {
  const { calls, cache } = setup();
  const a = cache.read('a', 0);
  await tick();
  calls[0]!.resolve(Buffer.from('A'));
  await a;
  const b = cache.read('b', 2);
  await tick();
  cache.clear();
  calls[1]!.resolve(Buffer.from('B'));
  await b;
  t.is(cache.size, 0);
  t.true(cache.read('a', 0) instanceof Promise);
  t.true(cache.read('b', 2) instanceof Promise);
});
