// Read commands beyond GET served from the cache: byte for byte what Redis answers, in RESP2 and RESP3; read once from Redis; a change seen within the bound.
import test from 'ava';
import { Redis } from 'ioredis';
import { startRedisAndProxy } from '../helpers/proxy-process.ts';
import { connectRaw, type RawClient } from '../helpers/raw-client.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.ts';
import type { TestRedis } from '../helpers/redis-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const frame = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** A raw connection in `protocol`; ask() sends one command and resolves with the exact bytes of its reply. */
async function rawSession(port: number, protocol: 2 | 3) {
  const client: RawClient = await connectRaw(port);
  let seen = 0;
  const ask = async (args: string[]): Promise<string> => {
    client.write(frame([...args]));
    // Each reply is delimited by a PING sent right after it: its +PONG ends the reply.
    client.write('PING\r\n');
    const all = await client.readUntil((r) => r.length > seen && r.slice(seen).endsWith('+PONG\r\n'));
    const reply = all.slice(seen, all.length - '+PONG\r\n'.length);
    seen = all.length;
    return reply;
  };
  await ask(['HELLO', String(protocol)]);
  return { ask, close: () => client.destroy() };
}

const calls = async (redis: TestRedis, command: string) =>
  Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await redis.client.info('commandstats'))?.[1] ?? 0);

/** Each cached read, the write that changes its answer, seeded by `seed`. */
const READS: { read: string[]; change: string[] }[] = [
  { read: ['GETRANGE', 's', '0', '3'], change: ['SET', 's', 'changed'] },
  { read: ['STRLEN', 's'], change: ['APPEND', 's', 'more'] },
  { read: ['EXISTS', 's', 'nope', 'h'], change: ['DEL', 's'] },
  { read: ['TYPE', 'l'], change: ['DEL', 'l'] },
  { read: ['HGET', 'h', 'f1'], change: ['HSET', 'h', 'f1', 'x'] },
  { read: ['HGET', 'h', 'missing'], change: ['HSET', 'h', 'missing', 'now'] },
  { read: ['HMGET', 'h', 'f1', 'nope', 'f2'], change: ['HDEL', 'h', 'f2'] },
  { read: ['HGETALL', 'h'], change: ['HSET', 'h', 'f3', '3'] },
  { read: ['HEXISTS', 'h', 'f2'], change: ['HDEL', 'h', 'f2'] },
  { read: ['HLEN', 'h'], change: ['HSET', 'h', 'f9', '9'] },
  { read: ['SMEMBERS', 'set'], change: ['SADD', 'set', 'd'] },
  { read: ['SISMEMBER', 'set', 'd'], change: ['SADD', 'set', 'd'] },
  { read: ['SCARD', 'set'], change: ['SREM', 'set', 'a'] },
  { read: ['LRANGE', 'l', '0', '-1'], change: ['RPUSH', 'l', 'z'] },
  { read: ['LINDEX', 'l', '5'], change: ['RPUSH', 'l', 'y', 'y', 'y'] },
  { read: ['LLEN', 'l'], change: ['LPOP', 'l'] },
  { read: ['ZRANGE', 'z', '0', '-1'], change: ['ZADD', 'z', '0', 'zero'] },
  { read: ['ZSCORE', 'z', 'two'], change: ['ZINCRBY', 'z', '0.5', 'two'] },
  { read: ['ZSCORE', 'z', 'inf'], change: ['ZADD', 'z', '-inf', 'inf'] },
  { read: ['ZCARD', 'z'], change: ['ZREM', 'z', 'one'] },
  { read: ['ZRANK', 'z', 'three'], change: ['ZADD', 'z', '0', 'three'] },
  { read: ['ZRANK', 'z', 'nobody'], change: ['ZADD', 'z', '1', 'nobody'] },
];

async function seed(redis: TestRedis) {
  const c = redis.client;
  await c.flushall();
  await c.set('s', 'string value');
  await c.hset('h', { f1: 'v1', f2: 'v2' });
  await c.sadd('set', 'a', 'b', 'c');
  await c.rpush('l', 'a', 'b', 'c');
  await c.zadd('z', '1', 'one', '2', 'two', '3', 'three', '+inf', 'inf');
}

for (const protocol of [2, 3] as const) {
  test(`RESP${protocol}: every cached read answers Redis's exact bytes, reaches Redis once, and a change made on Redis is seen within 100 ms`, async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { CACHE_EXPIRY: '3600' });
    const info = new Redis({ port: proxy.respPort });
    t.teardown(() => info.disconnect());
    const viaProxy = await rawSession(proxy.respPort, protocol);
    const direct = await rawSession(redis.port, protocol);
    t.teardown(() => {
      viaProxy.close();
      direct.close();
    });
    for (const { read, change } of READS) {
      await seed(redis);
      const name = read[0]!.toLowerCase();
      const expected = await direct.ask(read);
      t.is(await viaProxy.ask(read), expected, `${read.join(' ')}: first read`);
      const before = await calls(redis, name);
      t.is(await viaProxy.ask(read), expected, `${read.join(' ')}: from the cache`);
      t.is(await viaProxy.ask(read), expected);
      const extra = (await calls(redis, name)) - before;
      if (extra !== 0) t.log(await info.info('cache'));
      t.is(extra, 0, `${read.join(' ')} was answered from the cache`);
      // Another application changes it on Redis directly.
      await redis.client.call(change[0]!, ...change.slice(1));
      const changed = await direct.ask(read);
      t.not(changed, expected, `${change.join(' ')} changes ${read.join(' ')}`);
      const started = performance.now();
      let got = await viaProxy.ask(read);
      while (got !== changed && performance.now() - started < 100) {
        await sleep(2);
        got = await viaProxy.ask(read);
      }
      t.is(got, changed, `${read.join(' ')} after ${change.join(' ')}`);
    }
    t.regex(await info.info('cache'), /^tracking:on\r$/m);
  });
}

test('a write through the proxy drops the cached reads of its key before its reply: the next read sees it', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { CACHE_EXPIRY: '3600' });
  await seed(redis);
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  t.deepEqual(await client.hgetall('h'), { f1: 'v1', f2: 'v2' });
  t.deepEqual(await client.lrange('l', 0, -1), ['a', 'b', 'c']);
  for (let i = 0; i < 100; i++) {
    const out = (await client.pipeline().hset('h', 'n', String(i)).hget('h', 'n').rpush('l', String(i)).llen('l').exec())!;
    t.deepEqual(
      out.map(([, v]) => v),
      [i === 0 ? 1 : 0, String(i), 4 + i, 4 + i],
    );
  }
});

test('reads whose answer changes without a write (TTL, RANDOMKEY, SRANDMEMBER) and WITHSCORES are not cached', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { CACHE_EXPIRY: '3600' });
  await seed(redis);
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  await redis.client.expire('s', 100);
  for (const [command, args] of [
    ['ttl', ['s']],
    ['srandmember', ['set']],
    ['zrange', ['z', '0', '-1', 'WITHSCORES']],
  ] as const) {
    const before = await calls(redis, command);
    await client.call(command, ...args);
    await client.call(command, ...args);
    t.is((await calls(redis, command)) - before, 2, `${command} reached Redis each time`);
  }
});

test('INFO cache and /metrics report the tracking state, invalidations, entries by command and flushes by cause', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { CACHE_EXPIRY: '3600' });
  await seed(redis);
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  await client.get('s');
  await client.hgetall('h');
  await client.hget('h', 'f1');
  await client.smembers('set');
  await redis.client.hset('h', 'f1', 'changed'); // two entries read h: both dropped by one invalidation
  await sleep(100);
  await client.hgetall('h');
  await redis.client.flushdb(); // a flush by Redis
  await sleep(100);
  await client.eval("return redis.call('SET', KEYS[1], 'x')", 1, 'written-by-script'); // a barrier, no flush
  const info = await client.info('cache');
  const field = (name: string) => new RegExp(`^${name}:(.*)\\r$`, 'm').exec(info)?.[1];
  t.is(field('tracking'), 'on');
  t.true(Number(field('tracking_invalidations')) >= 2);
  t.is(field('cache_flushes_by_redis'), '2', "seed's FLUSHALL and the FLUSHDB");
  t.is(field('cache_flushes_for_writes'), '0', 'the script did not flush the cache');
  t.is(field('tracking_barriers'), '1');
  t.is(field('cache_entries'), '0', 'all flushed');

  await client.hgetall('h');
  await client.lrange('l', 0, -1);
  await client.get('s');
  const families = parsePrometheusText(await (await proxy.http('/metrics')).text());
  const P = 'redis_cache_proxy_';
  t.is(sampleValue(families, `${P}tracking`, { state: 'on' }), 1);
  t.is(sampleValue(families, `${P}tracking`, { state: 'lost' }), 0);
  t.is(sampleValue(families, `${P}cache_flushes_total`, { cause: 'redis' }), 2);
  t.is(sampleValue(families, `${P}cache_flushes_total`, { cause: 'write' }), 0);
  t.is(sampleValue(families, `${P}cache_entries_by_command`, { command: 'hgetall' }), 1);
  t.is(sampleValue(families, `${P}cache_entries_by_command`, { command: 'lrange' }), 1);
  t.is(sampleValue(families, `${P}cache_entries_by_command`, { command: 'get' }), 1);
  t.true(sampleValue(families, `${P}tracking_invalidations_total`) >= 2);
});
