// Read-through logic against a backend whose replies the test releases one by one, so the order is exact.
// (The same properties are proven against a real Redis in test/e2e.)
import test from 'ava';
import type { Backend } from '../../src/backend/redis-backend.ts';
import { createReadThrough } from '../../src/cache/read-through.ts';
import { createCacheStore } from '../../src/cache/store.ts';
import { BackendReplyError, BackendTimeoutError, BackendUnavailableError } from '../../src/errors.ts';
import { createStats } from '../../src/stats.ts';

interface PendingGet {
  key: string;
  resolve(value: Buffer | null): void;
  reject(err: Error): void;
}

function setup({ expiryMs = 60_000, capacity = 100, maxMemory = 1 << 30, maxValueSize = 1 << 20 } = {}) {
  const calls: PendingGet[] = [];
  const backend: Backend = {
    address: 'test',
    get: (key) => new Promise((resolve, reject) => calls.push({ key, resolve, reject })),
    isReady: () => true,
    unavailableReason: '',
    waitReady: async () => true,
    close: async () => {},
  };
  const clock = { t: 10_000, now() { return this.t; } };
  const stats = createStats();
  const store = createCacheStore({ capacity, expiryMs, maxMemory, maxValueSize, stats, clock });
  const cache = createReadThrough({ store, backend, stats });
  return { calls, clock, stats, cache };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a hit answers synchronously and never reaches the backend', async (t) => {
  const { calls, cache } = setup();
  const first = cache.read('k');
  await tick();
  calls[0]!.resolve(Buffer.from('v'));
  t.is(await first, 'v');
  const second = cache.read('k');
  t.false(second instanceof Promise);
  t.is(second, 'v');
  t.is(calls.length, 1);
});

test('N concurrent reads of one missing key make one backend read and all get the value', async (t) => {
  const { calls, stats, cache } = setup();
  const reads = Array.from({ length: 40 }, () => cache.read('k'));
  await tick();
  t.is(calls.length, 1);
  t.is(cache.inflight, 1);
  calls[0]!.resolve(Buffer.from('v'));
  const values = await Promise.all(reads);
  t.true(values.every((v) => v === 'v'));
  t.is(stats.coalescedReads, 39);
  t.is(stats.backendReads, 1);
  t.is(cache.inflight, 0, 'the in-flight map holds only keys being fetched');
});

test('reads of different keys never wait on each other', async (t) => {
  const { calls, cache } = setup();
  const slow = cache.read('slow');
  const fast = cache.read('fast');
  await tick();
  t.deepEqual(calls.map((c) => c.key), ['slow', 'fast']);
  calls[1]!.resolve(Buffer.from('F'));
  t.is(await fast, 'F');
  let slowDone = false;
  void (slow as Promise<unknown>).then(() => (slowDone = true));
  await tick();
  t.false(slowDone);
  calls[0]!.resolve(Buffer.from('S'));
  t.is(await slow, 'S');
});

test('a cached value is the reply\'s bytes as a latin1 string, a copy independent of the socket\'s buffer', async (t) => {
  const { calls, cache } = setup();
  const read = cache.read('bin');
  await tick();
  const chunk = Buffer.from([0x2a, 0, 13, 10, 255, 0x2a]);
  calls[0]!.resolve(chunk.subarray(1, 5));
  t.is(await read, '\x00\r\n\xff');
  chunk.fill(0);
  t.is(cache.read('bin'), '\x00\r\n\xff');
});

test('an absent key is cached as absent', async (t) => {
  const { calls, cache } = setup();
  const first = cache.read('nope');
  await tick();
  calls[0]!.resolve(null);
  t.is(await first, null);
  t.is(cache.read('nope'), null);
  t.is(calls.length, 1);
});

test('a failed fetch fails every waiter, caches nothing, and the next read tries again', async (t) => {
  const { calls, stats, cache } = setup();
  const reads = [cache.read('k'), cache.read('k'), cache.read('k')];
  await tick();
  calls[0]!.reject(new BackendUnavailableError('backend down'));
  for (const read of reads) await t.throwsAsync(read as Promise<unknown>, { instanceOf: BackendUnavailableError });
  t.is(stats.backendUnavailable, 1, 'one failed fetch, however many waited for it');
  t.is(cache.inflight, 0);
  const retry = cache.read('k');
  t.true(retry instanceof Promise);
  await tick();
  t.is(calls.length, 2);
  calls[1]!.resolve(Buffer.from('back'));
  t.is(await retry, 'back');
});

test('failed fetches are counted by kind: unavailable, timeout, error reply', async (t) => {
  const { calls, stats, cache } = setup();
  const reads = ['a', 'b', 'c', 'd'].map((k) => cache.read(k) as Promise<unknown>);
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
  const read = cache.read('k');
  await tick();
  clock.t += 600;
  calls[0]!.resolve(Buffer.from('v1'));
  await read;
  clock.t += 400;
  t.is(cache.read('k'), 'v1');
  clock.t += 1;
  const again = cache.read('k');
  t.true(again instanceof Promise, 'expired: fetched again');
  await tick();
  calls[1]!.resolve(Buffer.from('v2'));
  t.is(await again, 'v2');
});

test('a value over CACHE_MAX_VALUE_SIZE reaches every reader of its fetch, is not cached, and is counted', async (t) => {
  const { calls, stats, cache } = setup({ maxValueSize: 10 });
  const big = Buffer.from('0123456789A');
  const reads = [cache.read('big'), cache.read('big'), cache.read('big')];
  await tick();
  t.is(calls.length, 1);
  calls[0]!.resolve(big);
  for (const value of await Promise.all(reads)) t.true(Buffer.isBuffer(value) && value.equals(big));
  t.is(stats.uncacheableValues, 1);
  t.is(cache.size, 0);
  t.is(cache.bytes, 0);
  const again = cache.read('big');
  t.true(again instanceof Promise, 'not cached: the next read fetches again');
  await tick();
  calls[1]!.resolve(Buffer.from('0123456789'));
  t.is(await again, '0123456789', 'at the limit it is cached');
  t.is(cache.read('big'), '0123456789');
  t.is(stats.uncacheableValues, 1);
  t.is(calls.length, 2);
});

test('an entry whose key alone exceeds CACHE_MAX_MEMORY is answered (even as absent) and not cached', async (t) => {
  const { calls, stats, cache } = setup({ maxMemory: 200, maxValueSize: 100 });
  const key = 'k'.repeat(300);
  const first = cache.read(key);
  await tick();
  calls[0]!.resolve(null);
  t.is(await first, null);
  t.is(stats.uncacheableValues, 1);
  t.true(cache.read(key) instanceof Promise);
});
