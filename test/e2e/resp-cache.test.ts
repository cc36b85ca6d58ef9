// Cache semantics through the RESP port: coalescing across clients, expiry, LRU, and one cache shared with HTTP.
import test from 'ava';
import { Redis } from 'ioredis';
import { freshKey } from '../helpers/external.ts';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, proxyUnderTest, startProxy, type TestProxy } from '../helpers/proxy-process.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

let redis: TestRedis;
test.before(async () => {
  redis = await startRedis();
});
test.after.always(async () => {
  await redis?.close();
});

/** Runs `fn` with the proxy under test when `env` is empty, else with a proxy started with those settings. */
async function withProxy(env: Record<string, string>, fn: (proxy: TestProxy, client: Redis) => Promise<void>) {
  const proxy = Object.keys(env).length === 0 ? await proxyUnderTest(redis) : await startProxy({ env: { ...backendEnv(redis), ...env } });
  const client = new Redis(proxy.respAddress);
  try {
    await fn(proxy, client);
  } finally {
    client.disconnect();
    await proxy.close();
  }
}

const proxyStat = async (client: Redis, name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(await client.info('cache'))![1]);

test.serial('40 clients reading one uncached key at once cause one backend read', async (t) => {
  await withProxy({}, async (proxy, control) => {
    const key = freshKey('shared');
    await redis.client.set(key, 'one-value');
    const clients = Array.from({ length: 40 }, () => new Redis(proxy.respAddress));
    try {
      await Promise.all(clients.map((c) => c.ping()));
      const coalescedBefore = await proxyStat(control, 'cache_coalesced_reads');
      const reads = await redis.readsDuring(async () => {
        // Redis holds every command for 300 ms, so all 40 reads arrive while the first fetch is in flight.
        await redis.client.call('CLIENT', 'PAUSE', '300', 'ALL');
        const values = await Promise.all(clients.map((c) => c.get(key)));
        t.deepEqual(values, Array(40).fill('one-value'));
      });
      t.is(reads, 1);
      t.is((await proxyStat(control, 'cache_coalesced_reads')) - coalescedBefore, 39);
      t.is(await proxyStat(control, 'cache_inflight_fetches'), 0);
    } finally {
      clients.forEach((c) => c.disconnect());
    }
  });
});

localOnly('starts a proxy with CACHE_EXPIRY=0.4').serial(
  'with expiry alone (no tracking), after CACHE_EXPIRY the next GET goes to Redis again and returns the new value',
  async (t) => {
    await withProxy({ CACHE_EXPIRY: '0.4', CACHE_INVALIDATION: 'expiry' }, async (_proxy, client) => {
      await redis.client.set('exp', 'old');
      t.is(await client.get('exp'), 'old');
      await redis.client.set('exp', 'new');
      t.is(await redis.readsDuring(async () => t.is(await client.get('exp'), 'old')), 0);
      await new Promise((r) => setTimeout(r, 700));
      t.is(await redis.readsDuring(async () => t.is(await client.get('exp'), 'new')), 1);
    });
  },
);

localOnly('starts a proxy with CACHE_CAPACITY=2').serial('with CACHE_CAPACITY=2 the least recently read key is evicted', async (t) => {
  await withProxy({ CACHE_CAPACITY: '2' }, async (_proxy, client) => {
    await redis.client.mset({ a: '1', b: '2', c: '3' });
    await client.get('a');
    await client.get('b');
    t.is(await redis.readsDuring(() => client.get('a')), 0);
    await client.get('c'); // evicts b
    t.is(
      await redis.readsDuring(async () => {
        t.is(await client.get('a'), '1');
        t.is(await client.get('c'), '3');
      }),
      0,
    );
    t.is(await redis.readsDuring(async () => t.is(await client.get('b'), '2')), 1);
    t.is(await proxyStat(client, 'cache_evictions'), 2);
  });
});

test.serial('HTTP and RESP share one cache', async (t) => {
  await withProxy({}, async (proxy, client) => {
    const key = freshKey('both');
    await redis.client.set(key, 'fronts');
    t.is(
      await redis.readsDuring(async () => {
        t.is(await (await proxy.http(`/query?key=${encodeURIComponent(key)}`)).text(), 'fronts');
        t.is(await client.get(key), 'fronts');
        t.deepEqual(await client.mget(key, key), ['fronts', 'fronts']);
      }),
      1,
    );
  });
});

test.serial('MGET fetches its misses together and caches each key', async (t) => {
  await withProxy({}, async (_proxy, client) => {
    const [m1, m2, m3, absent] = ['m1', 'm2', 'm3', 'm-absent'].map(freshKey) as [string, string, string, string];
    await redis.client.mset({ [m1]: 'a', [m2]: 'b', [m3]: 'c' });
    t.is(await redis.readsDuring(async () => t.deepEqual(await client.mget(m1, m2, m3, absent, m1), ['a', 'b', 'c', null, 'a'])), 4);
    t.is(await redis.readsDuring(async () => t.deepEqual(await client.mget(m3, absent), ['c', null])), 0);
    t.is(await redis.readsDuring(async () => t.is(await client.get(m2), 'b')), 0);
  });
});

test.serial('MGET answers nil for a key holding another type, as Redis does, where GET answers WRONGTYPE', async (t) => {
  await withProxy({}, async (_proxy, client) => {
    const [str, set, absent] = ['mt-str', 'mt-set', 'mt-absent'].map(freshKey) as [string, string, string];
    await redis.client.set(str, 'a');
    await redis.client.sadd(set, 'member');
    // Before the fix the GET that fetched the set's key failed the whole MGET with WRONGTYPE.
    t.deepEqual(await client.mget(str, set, absent), ['a', null, null]);
    t.deepEqual(await client.mget(set, str), [null, 'a'], 'again, with the string cached');
    t.deepEqual(await redis.client.mget(str, set, absent), ['a', null, null], "Redis's own answer");
    const err = await client.get(set).catch((e: Error) => e);
    t.regex(String(err), /WRONGTYPE Operation against a key holding the wrong kind of value/);
  });
});

const cacheInfo = async (client: Redis, name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(await client.info('cache'))![1]);

localOnly('starts a proxy with CACHE_MAX_MEMORY=64kb').serial(
  'with CACHE_MAX_MEMORY=64kb, reading 100 distinct 10 KB values keeps cache_bytes within it, and every read is right',
  async (t) => {
    await withProxy({ CACHE_MAX_MEMORY: '64kb', CACHE_MAX_VALUE_SIZE: '16kb' }, async (proxy, client) => {
      const key = (i: number) => `budget:${i}`;
      const value = (i: number) => `${i}:`.padEnd(10 * 1024, String.fromCharCode(65 + (i % 26)));
      await redis.client.mset(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [key(i), value(i)])));
      const evictionsBefore = await proxyStat(client, 'cache_evictions');
      for (let i = 0; i < 100; i++) {
        t.is(await client.get(key(i)), value(i), key(i));
        t.true((await cacheInfo(client, 'cache_bytes')) <= 64 * 1024);
      }
      t.is(await cacheInfo(client, 'cache_max_memory'), 64 * 1024);
      t.is(await cacheInfo(client, 'cache_max_value_size'), 16 * 1024);
      const entries = await cacheInfo(client, 'cache_entries');
      const bytes = await cacheInfo(client, 'cache_bytes');
      t.true(entries >= 1 && entries <= 6, `${entries} entries of 10 KB in 64 KB`);
      t.true(bytes > entries * 10 * 1024 && bytes <= 64 * 1024, `${bytes} bytes`);
      t.is((await proxyStat(client, 'cache_evictions')) - evictionsBefore, 100 - entries);
      const metrics = await (await proxy.http('/metrics')).text();
      t.regex(metrics, new RegExp(`^redis_cache_proxy_cache_bytes ${bytes}$`, 'm'));
      // The most recently read are the ones kept; the first was evicted long ago.
      t.is(await redis.readsDuring(async () => t.is(await client.get(key(99)), value(99))), 0);
      t.is(await redis.readsDuring(async () => t.is(await client.get(key(0)), value(0))), 1);
    });
  },
);

localOnly('starts a proxy with CACHE_MAX_VALUE_SIZE=16kb').serial(
  'a value over CACHE_MAX_VALUE_SIZE is answered whole to every reader, and each read of it reaches Redis',
  async (t) => {
    await withProxy({ CACHE_MAX_VALUE_SIZE: '16kb' }, async (proxy, client) => {
      const big = Buffer.from(Array.from({ length: 100 * 1024 }, (_, i) => (i * 131 + 7) % 256));
      const small = Buffer.alloc(16 * 1024, 's');
      await redis.client.set('too-big', big);
      await redis.client.set('just-fits', small);
      t.is(
        await redis.readsDuring(async () => {
          for (let i = 0; i < 3; i++) t.true((await client.getBuffer('too-big'))!.equals(big));
          t.true(Buffer.from(await (await proxy.http('/query?key=too-big')).arrayBuffer()).equals(big));
        }),
        4,
      );
      // Readers that join the fetch in flight get the value too: one read for all of them.
      const readers = Array.from({ length: 5 }, () => new Redis(proxy.respAddress));
      try {
        await Promise.all(readers.map((r) => r.ping()));
        t.is(
          await redis.readsDuring(async () => {
            await redis.client.call('CLIENT', 'PAUSE', '200', 'ALL');
            for (const value of await Promise.all(readers.map((r) => r.getBuffer('too-big')))) t.true(value!.equals(big));
          }),
          1,
        );
      } finally {
        readers.forEach((r) => r.disconnect());
      }
      t.is(await proxyStat(client, 'cache_values_too_large'), 5);
      t.regex(await (await proxy.http('/metrics')).text(), /^redis_cache_proxy_cache_values_too_large_total 5$/m);
      t.is(await cacheInfo(client, 'cache_entries'), 0);
      // At the limit a value is cached as before.
      t.true((await client.getBuffer('just-fits'))!.equals(small));
      t.is(await redis.readsDuring(async () => t.true((await client.getBuffer('just-fits'))!.equals(small))), 0);
    });
  },
);
