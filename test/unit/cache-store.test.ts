// The store on an injected clock: expiry from fetch time, LRU by reads, absences, evictions counted, values copied.
import test from 'ava';
import { createCacheStore } from '../../src/cache/store.ts';
import { createStats } from '../../src/stats.ts';

function setup(capacity = 10, expiryMs = 1000) {
  // Starts well above 0: a start time of 0 would read as "no expiry" to lru-cache.
  const clock = { t: 10_000, now() { return this.t; } };
  const stats = createStats();
  const store = createCacheStore({ capacity, expiryMs, stats, clock });
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

test('reads do not extend an entry\'s life', (t) => {
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
