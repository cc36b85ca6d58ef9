// The backend connection against real Redis servers: login and database from REDIS_URL, large values, MAX_PARALLEL, replies held behind a miss.
import test from 'ava';
import { Redis } from 'ioredis';
import { freshKey } from '../helpers/external.ts';
import { localOnly } from '../helpers/local-only.ts';
import { redisAndProxyUnderTest, startProxy, startRedisAndProxy } from '../helpers/proxy-process.ts';
import { connectRaw } from '../helpers/raw-client.ts';
import { startRedis } from '../helpers/redis-server.ts';

localOnly('starts a Redis with a password').serial(
  'REDIS_URL with a password and a database: the proxy logs in, selects it, and names its connection',
  async (t) => {
    const redis = await startRedis({ password: 's3cret' });
    t.teardown(() => redis.close());
    const proxy = await startProxy({ env: { REDIS_URL: `redis://default:s3cret@127.0.0.1:${redis.port}/2` } });
    t.teardown(() => proxy.stop());
    const client = new Redis({ port: proxy.respPort });
    t.teardown(() => client.disconnect());
    await redis.client.set('where', 'db0');
    await redis.client.select(2);
    await redis.client.set('where', 'db2');
    t.is(await client.get('where'), 'db2');
    t.regex((await redis.client.client('LIST')) as string, /name=redis-cache-proxy .*db=2/);
  },
);

localOnly('starts a Redis with a password').serial('a wrong password is reported in the log and in every error reply, and nothing crashes', async (t) => {
  const redis = await startRedis({ password: 's3cret' });
  t.teardown(() => redis.close());
  const proxy = await startProxy({ env: { REDIS_URL: `redis://:wrong@127.0.0.1:${redis.port}`, REDIS_TIMEOUT: '0.5' } });
  t.teardown(() => proxy.stop());
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  const err = await client.get('k').catch((e: Error) => e);
  t.regex((err as Error).message, /^ERR backend Redis at 127\.0\.0\.1:\d+ is unavailable \(login refused: WRONGPASS/);
  t.regex(proxy.output(), /login refused: WRONGPASS/);
  t.is((await proxy.http('/query?key=k')).status, 503);
  t.is(await client.ping(), 'PONG');
});

test.serial('values of 1 MiB (cached) and 8 MiB (not cached) arrive whole, in order with small ones, through RESP and HTTP', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const client = new Redis(proxy.respAddress);
  t.teardown(() => client.disconnect());
  const big = Buffer.alloc(1024 * 1024, 0xab);
  const huge = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < huge.length; i++) huge[i] = i % 251;
  const keys = { big: freshKey('big'), huge: freshKey('huge'), small: freshKey('small') };
  await redis.client.mset({ [keys.big]: big, [keys.huge]: huge, [keys.small]: 's' });
  const pipeline = client.pipeline();
  for (const key of [keys.small, keys.big, keys.small, keys.huge, keys.small]) pipeline.getBuffer(key);
  const values = (await pipeline.exec())!.map(([, v]) => v as Buffer);
  t.deepEqual(
    values.map((v) => v.length),
    [1, big.length, 1, huge.length, 1],
  );
  t.true(values[1]!.equals(big));
  t.true(values[3]!.equals(huge));
  // 1 MiB is CACHE_MAX_VALUE_SIZE's default: big is cached; huge is answered from Redis on every read.
  t.is(await redis.readsDuring(async () => t.true((await client.getBuffer(keys.big))!.equals(big))), 0);
  t.is(await redis.readsDuring(async () => t.true((await client.getBuffer(keys.huge))!.equals(huge))), 1);
  t.true(Buffer.from(await (await proxy.http(`/query?key=${encodeURIComponent(keys.huge)}`)).arrayBuffer()).equals(huge));
});

localOnly('starts a proxy with MAX_PARALLEL=2').serial('with MAX_PARALLEL=2, 500 different misses at once all get their own value', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { MAX_PARALLEL: '2' });
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  const keys = Array.from({ length: 500 }, (_, i) => `par:${i}`);
  await redis.client.mset(Object.fromEntries(keys.map((k) => [k, `v:${k}`])));
  const before = await redis.reads();
  t.deepEqual(
    await client.mget(...keys),
    keys.map((k) => `v:${k}`),
  );
  t.is((await redis.reads()) - before, 500);
  t.regex(await client.info('cache'), /cache_inflight_fetches:0/);
});

test.serial('replies held behind a slow miss keep their bytes while later reads reuse the read buffer', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const [client, bystander] = await Promise.all([connectRaw(proxy.respAddress), connectRaw(proxy.respAddress)]);
  t.teardown(() => {
    client.destroy();
    bystander.destroy();
  });
  const slow = freshKey('slow');
  await redis.client.set(slow, 'value');
  const big = Buffer.alloc(20_000);
  for (let i = 0; i < big.length; i++) big[i] = 0x41 + (i % 26);
  const bulk = (bytes: Buffer | string) => Buffer.concat([Buffer.from(`$${Buffer.byteLength(bytes)}\r\n`), Buffer.from(bytes), Buffer.from('\r\n')]);
  // The miss waits on the paused Redis, so the replies after it wait in the proxy, holding their arguments.
  await redis.client.call('CLIENT', 'PAUSE', '600', 'ALL');
  client.write(Buffer.concat([Buffer.from(`GET ${slow}\r\n*2\r\n$4\r\nECHO\r\n`), bulk(big), Buffer.from('PING first\r\n')]));
  await new Promise((r) => setTimeout(r, 100));
  // More reads, on this connection and another, land in the same read buffer meanwhile.
  client.write('ECHO second\r\n');
  bystander.write(`ECHO ${'z'.repeat(30_000)}\r\n`);
  await bystander.readUntil((r) => r.endsWith('\r\n') && r.length > 30_000);
  const expected = Buffer.concat([bulk('value'), bulk(big), bulk('first'), bulk('second')]).toString('latin1');
  t.is(await client.readUntil((r) => r.length >= expected.length), expected);
});
