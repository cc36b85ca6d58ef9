// HTTP /query end to end: a real redis-server, the proxy through its entrypoint, reads counted in Redis's INFO stats.
import test from 'ava';
import { freshKey } from '../helpers/external.ts';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, proxyUnderTest, startProxy, type TestProxy } from '../helpers/proxy-process.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

let redis: TestRedis;
let proxy: TestProxy;

test.before(async () => {
  redis = await startRedis();
  proxy = await proxyUnderTest(redis);
});
test.after.always(async () => {
  await proxy?.close();
  await redis?.close();
});

const get = async (p: TestProxy, key: string) => {
  const res = await p.http(`/query?key=${encodeURIComponent(key)}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
};

async function metric(p: TestProxy, name: string): Promise<number> {
  const text = await (await p.http('/metrics')).text();
  return Number(new RegExp(`^redis_cache_proxy_${name} (\\d+)$`, 'm').exec(text)![1]);
}

test.serial('GET /query returns the value; a second read is served from the cache', async (t) => {
  const key = freshKey('Batman');
  await redis.client.set(key, 'Superhero');
  t.is(
    await redis.readsDuring(async () => {
      const first = await get(proxy, key);
      t.is(first.status, 200);
      t.is(first.body.toString(), 'Superhero');
      t.is(first.status, 200);
    }),
    1,
  );
  t.is(
    await redis.readsDuring(async () => {
      const second = await get(proxy, key);
      t.is(second.body.toString(), 'Superhero');
    }),
    0,
  );
});

test.serial('an absent key is 404, and the absence is cached too', async (t) => {
  const key = freshKey('no-such-key');
  t.is(await redis.readsDuring(async () => t.is((await get(proxy, key)).status, 404)), 1);
  t.is(await redis.readsDuring(async () => t.is((await get(proxy, key)).status, 404)), 0);
});

test.serial('no key parameter is 400; other methods are 405 with Allow; / explains usage', async (t) => {
  const missing = await proxy.http('/query');
  t.is(missing.status, 400);
  t.regex(await missing.text(), /key/);
  t.is((await proxy.http('/query?other=1')).status, 400);
  const post = await proxy.http('/query?key=Batman', { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');
  const root = await proxy.http('/');
  t.is(root.status, 200);
  t.regex(await root.text(), /GET \/query\?key=K/);
  t.is((await proxy.http('/nope')).status, 404);
});

test.serial('repeated slashes in the path count as one, as Flask and nginx treat them; the query string is left alone', async (t) => {
  await redis.client.set('slashes', 'one//two');
  await redis.client.set('a//b', 'key with slashes');
  // Clients of the original service build `base + "/query"` with a base that ends in "/".
  for (const path of ['//query?key=slashes', '///query?key=slashes', '/////query?key=slashes']) {
    const res = await proxy.http(path);
    t.is(res.status, 200, path);
    t.is(await res.text(), 'one//two', path);
  }
  const inQuery = await proxy.http('//query?key=a//b');
  t.is(inQuery.status, 200);
  t.is(await inQuery.text(), 'key with slashes', 'slashes in the query string are part of the key');
  t.is((await proxy.http('//')).status, 200, '"//" is "/", the usage page');
  t.is((await proxy.http('/nope')).status, 404);
  t.is((await proxy.http('//nope')).status, 404);
  t.is((await proxy.http('//query/')).status, 404, 'a trailing slash is another path, as before');
  const post = await proxy.http('//query?key=slashes', { method: 'POST' });
  t.is(post.status, 405);
  t.regex(await post.text(), /only GET and HEAD are allowed on \/query\n/);
});

test.serial('40 concurrent requests for one uncached key make exactly one backend read, and all get the value', async (t) => {
  const hot = freshKey('hot');
  await redis.client.set(hot, 'value-of-hot');
  const coalescedBefore = await metric(proxy, 'cache_coalesced_reads_total');
  const reads = await redis.readsDuring(async () => {
    // Redis holds every command for 300 ms, so all 40 requests surely arrive while the first fetch is in flight.
    await redis.client.call('CLIENT', 'PAUSE', '300', 'ALL');
    const responses = await Promise.all(Array.from({ length: 40 }, () => get(proxy, hot)));
    t.true(responses.every((r) => r.status === 200 && r.body.toString() === 'value-of-hot'));
  });
  t.is(reads, 1);
  t.is((await metric(proxy, 'cache_coalesced_reads_total')) - coalescedBefore, 39);
});

test.serial('concurrent requests for different keys all succeed, one backend read each', async (t) => {
  const keys = Array.from({ length: 30 }, (_, i) => freshKey(`many:${i}`));
  await redis.client.mset(Object.fromEntries(keys.map((k) => [k, `v-${k}`])));
  const reads = await redis.readsDuring(async () => {
    const responses = await Promise.all(keys.map((k) => get(proxy, k)));
    responses.forEach((r, i) => t.is(r.body.toString(), `v-${keys[i]}`));
  });
  t.is(reads, keys.length);
});

test.serial('keys and values are binary-safe through percent-encoding', async (t) => {
  const key = Buffer.from([0x6b, 0x00, 0x0d, 0x0a, 0xff, 0x20, 0x26, 0x3d]);
  const value = Buffer.concat([Buffer.from([0, 13, 10, 255]), Buffer.alloc(10 * 1024, 0xab)]);
  await redis.client.set(key, value);
  const encoded = [...key].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  const res = await proxy.http(`/query?key=${encoded}`);
  t.is(res.status, 200);
  t.true(Buffer.from(await res.arrayBuffer()).equals(value));
  const utf8 = await get(proxy, 'héros');
  t.is(utf8.status, 404);
});

test.serial("/metrics and /health report the proxy's state", async (t) => {
  const metrics = await (await proxy.http('/metrics')).text();
  t.regex(metrics, /^redis_cache_proxy_cache_hits_total [1-9]\d*$/m);
  t.regex(metrics, /^redis_cache_proxy_cache_coalesced_reads_total \d+$/m);
  t.regex(metrics, /^redis_cache_proxy_cache_inflight_fetches 0$/m);
  t.regex(metrics, /^# TYPE redis_cache_proxy_cache_bytes gauge\nredis_cache_proxy_cache_bytes [1-9]\d*$/m);
  t.regex(metrics, /^# TYPE redis_cache_proxy_cache_values_too_large_total counter\nredis_cache_proxy_cache_values_too_large_total \d+$/m);
  const health = await proxy.http('/health');
  t.is(health.status, 200);
  t.like(await health.json(), { status: 'ok' });
});

localOnly('starts a proxy with CACHE_EXPIRY=0.4').serial(
  'with expiry alone (no tracking), after CACHE_EXPIRY the next read goes to Redis again and returns the new value',
  async (t) => {
    const short = await startProxy({ env: { ...backendEnv(redis), CACHE_EXPIRY: '0.4', CACHE_INVALIDATION: 'expiry' } });
    try {
      await redis.client.set('expiring', 'old');
      t.is((await get(short, 'expiring')).body.toString(), 'old');
      await redis.client.set('expiring', 'new');
      t.is(await redis.readsDuring(async () => t.is((await get(short, 'expiring')).body.toString(), 'old')), 0);
      await new Promise((r) => setTimeout(r, 700));
      t.is(await redis.readsDuring(async () => t.is((await get(short, 'expiring')).body.toString(), 'new')), 1);
    } finally {
      await short.stop();
    }
  },
);

localOnly('starts a proxy with CACHE_CAPACITY=2').serial(
  'with CACHE_CAPACITY=2 the least recently read key is evicted and read from Redis again',
  async (t) => {
    const small = await startProxy({ env: { ...backendEnv(redis), CACHE_CAPACITY: '2' } });
    try {
      await redis.client.mset({ a: '1', b: '2', c: '3' });
      await get(small, 'a');
      await get(small, 'b');
      t.is(await redis.readsDuring(() => get(small, 'a')), 0, 'a is cached and now the most recently read');
      await get(small, 'c'); // evicts b, the least recently read
      t.is(await redis.readsDuring(() => get(small, 'a')), 0);
      t.is(await redis.readsDuring(() => get(small, 'c')), 0);
      t.is(await redis.readsDuring(async () => t.is((await get(small, 'b')).body.toString(), '2')), 1);
    } finally {
      await small.stop();
    }
  },
);
