// The store on an injected clock: expiry from fetch time, LRU by reads, absences, evictions counted, the byte budget.
import test from 'ava';
import { createCacheStore, ENTRY_OVERHEAD_BYTES, entryBytes } from '../../src/cache/store.ts';
import { createStats } from '../../src/stats.ts';

function setup(capacity = 10, expiryMs = 1000, { maxMemory = 1 << 30, maxValueSize = 1 << 20 } = {}) {
  // Starts well above 0: a start time of 0 would read as "no expiry" to lru-cache.
  const clock = {
    t: 10_000,
    now() {
      return this.t;
    },
  };
  const stats = createStats();
  const store = createCacheStore({ capacity, expiryMs, maxMemory, maxValueSize, stats, clock });
  return { clock, stats, store };
}

test('an entry is served until its expiry, counted from when it was fetched, and never after', (t) => {
  const { clock, store } = setup(10, 1000);
  store.set('k', 'v', clock.t);
  clock.t += 1000;
  t.deepEqual(store.get('k'), 'v');
  clock.t += 1;
  t.is(store.get('k'), undefined);
});

test('expiry counts from the fetch start given, not from when the value was stored', (t) => {
  const { clock, store } = setup(10, 1000);
  const fetchedAt = clock.t;
  clock.t += 600; // a slow backend reply
  store.set('k', 'v', fetchedAt);
  clock.t += 401;
  t.is(store.get('k'), undefined);
});

test("reads do not extend an entry's life", (t) => {
  const { clock, store } = setup(10, 1000);
  store.set('k', 'v', clock.t);
  for (let i = 0; i < 10; i++) {
    clock.t += 100;
    t.truthy(store.get('k'));
  }
  clock.t += 1;
  t.is(store.get('k'), undefined);
});

test('at capacity the least recently read key is evicted, and evictions are counted', (t) => {
  const { clock, stats, store } = setup(2);
  store.set('a', '1', clock.t);
  store.set('b', '2', clock.t);
  t.truthy(store.get('a')); // b is now the least recently read
  store.set('c', '3', clock.t);
  t.is(store.get('b'), undefined);
  t.truthy(store.get('a'));
  t.truthy(store.get('c'));
  t.is(stats.evictions, 1);
  t.is(store.size, 2);
});

test('an expired entry dropped on read is not counted as an eviction', (t) => {
  const { clock, stats, store } = setup(2, 100);
  store.set('a', '1', clock.t);
  clock.t += 101;
  t.is(store.get('a'), undefined);
  t.is(stats.evictions, 0);
});

test('absent keys are remembered as null, distinct from "not cached"', (t) => {
  const { clock, store } = setup();
  store.set('gone', null, clock.t);
  t.is(store.get('gone'), null);
  t.is(store.get('never'), undefined);
});

test('binary keys (one char per byte) and values round-trip', (t) => {
  const { clock, store } = setup();
  const key = Buffer.from([0, 13, 10, 255]).toString('latin1');
  const value = Buffer.from([255, 0, 13, 10]).toString('latin1');
  store.set(key, value, clock.t);
  t.true(Buffer.from(store.get(key)!, 'latin1').equals(Buffer.from([255, 0, 13, 10])));
});

test('bytes add up: key, value and the fixed overhead of each entry, less what leaves', (t) => {
  const { clock, store } = setup(10, 1000);
  t.is(store.bytes, 0);
  store.set('k1', 'v'.repeat(100), clock.t);
  t.is(store.bytes, ENTRY_OVERHEAD_BYTES + 2 + 100);
  store.set('absent', null, clock.t);
  t.is(store.bytes, 2 * ENTRY_OVERHEAD_BYTES + 2 + 100 + 6);
  store.set('k1', 'v'.repeat(10), clock.t); // replaced: charged for the new value only
  t.is(store.bytes, 2 * ENTRY_OVERHEAD_BYTES + 2 + 10 + 6);
  clock.t += 1001;
  t.is(store.get('k1'), undefined); // expired and dropped on read
  t.is(store.bytes, entryBytes(6, 0));
  t.is(store.get('absent'), undefined);
  t.is(store.bytes, 0);
});

test('at CACHE_MAX_MEMORY the least recently read entries are evicted to make room, and counted', (t) => {
  const entry = entryBytes(1, 100);
  const { clock, stats, store } = setup(100, 1000, { maxMemory: 3 * entry, maxValueSize: 1000 });
  const value = (c: string) => c.repeat(100);
  for (const k of ['a', 'b', 'c']) store.set(k, value(k), clock.t);
  t.is(store.bytes, 3 * entry);
  t.is(store.get('a'), value('a')); // b is now the least recently read
  store.set('d', value('d'), clock.t);
  t.is(store.get('b'), undefined);
  t.deepEqual(
    ['a', 'c', 'd'].map((k) => store.get(k)),
    [value('a'), value('c'), value('d')],
  );
  t.is(stats.evictions, 1);
  t.is(store.bytes, 3 * entry);
  // One entry as large as two: the two least recently read make room for it.
  store.set('e', 'e'.repeat(2 * 100 + ENTRY_OVERHEAD_BYTES + 1), clock.t);
  t.is(store.get('a'), undefined);
  t.is(store.get('c'), undefined);
  t.is(store.get('d'), value('d'));
  t.is(stats.evictions, 3);
  t.true(store.bytes <= 3 * entry);
  t.is(store.size, 2);
});

test('many entries never hold more bytes than the budget', (t) => {
  const maxMemory = 64 * 1024;
  const { clock, store } = setup(10_000, 60_000, { maxMemory, maxValueSize: 16 * 1024 });
  let expected = 0;
  for (let i = 0; i < 1000; i++) {
    store.set(`key:${i}`, 'x'.repeat((i * 7919) % 16_000), clock.t);
    t.true(store.bytes <= maxMemory, `after ${i + 1} entries: ${store.bytes}`);
  }
  // What is held is exactly the sum of the entries still there.
  for (let i = 0; i < 1000; i++) {
    const v = store.get(`key:${i}`);
    if (v !== undefined) expected += entryBytes(`key:${i}`.length, v!.length);
  }
  t.is(store.bytes, expected);
});

test('fits: a value over CACHE_MAX_VALUE_SIZE, or an entry over CACHE_MAX_MEMORY, is not cacheable', (t) => {
  const { store } = setup(10, 1000, { maxMemory: 1000, maxValueSize: 500 });
  t.true(store.fits('k', 500));
  t.false(store.fits('k', 501));
  t.true(store.fits('k', 0));
  const key = 'k'.repeat(1000 - ENTRY_OVERHEAD_BYTES - 100);
  t.true(store.fits(key, 100), 'key, value and overhead exactly at the budget');
  t.false(store.fits(key, 101));
  t.false(store.fits('k'.repeat(1000), 0), 'a key larger than the budget, even with no value');
});
