// Redis's own behaviour through the proxy: every data type, expiry, SCAN, databases, binary data, and reads that always see the writes before them.
import test from 'ava';
import { Redis } from 'ioredis';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

/** Against an external proxy these are skipped: its cache expires in minutes, and they empty Redis. */
const dropInTest = localOnly('starts a proxy with CACHE_EXPIRY=3600 and empties its Redis (FLUSHDB)');

let redis: TestRedis;
let proxy: ProxyProcess;
let client: Redis;

test.before(async () => {
  redis = await startRedis();
  // An hour: within these tests only the proxy's own invalidation can explain a fresh value.
  proxy = await startProxy({ env: { ...backendEnv(redis), CACHE_EXPIRY: '3600' } });
  client = new Redis({ port: proxy.respPort });
});
test.after.always(async () => {
  client?.disconnect();
  await proxy?.stop();
  await redis?.close();
});

const direct = () => redis.client;

dropInTest.serial('strings and counters: INCR from 20 clients × 1000 gives exactly 20000', async (t) => {
  t.is(await client.set('s:1', 'hello'), 'OK');
  t.is(await client.append('s:1', ' world'), 11);
  t.is(await client.get('s:1'), 'hello world');
  t.is(await client.getrange('s:1', 0, 4), 'hello');
  t.is(await client.strlen('s:1'), 11);
  t.is(await client.setnx('s:1', 'x'), 0);
  t.deepEqual(await client.mset({ 's:a': '1', 's:b': '2' }), 'OK');
  t.deepEqual(await client.mget('s:a', 's:b', 's:none'), ['1', '2', null]);
  t.is(await client.getdel('s:a'), '1');
  t.is(await client.get('s:a'), null);

  const clients = Array.from({ length: 20 }, () => new Redis({ port: proxy.respPort }));
  try {
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 1000; i += 50) {
          const pipeline = c.pipeline();
          for (let j = 0; j < 50; j++) pipeline.incr('counter');
          await pipeline.exec();
        }
      }),
    );
  } finally {
    clients.forEach((c) => c.disconnect());
  }
  t.is(await client.get('counter'), '20000');
  t.is(await direct().get('counter'), '20000');
  t.is(await client.incrby('counter', 5), 20005);
  t.is(await client.incrbyfloat('counter', 0.5), '20005.5');
});

dropInTest.serial('lists, sets, hashes and sorted sets answer as Redis does', async (t) => {
  t.is(await client.rpush('l', 'a', 'b', 'c'), 3);
  t.deepEqual(await client.lrange('l', 0, -1), ['a', 'b', 'c']);
  t.is(await client.lpop('l'), 'a');
  t.is(await client.llen('l'), 2);
  t.is(await client.sadd('set', 'x', 'y', 'z'), 3);
  t.deepEqual((await client.smembers('set')).sort(), ['x', 'y', 'z']);
  t.is(await client.sismember('set', 'y'), 1);
  t.is(await client.hset('h', { f1: 'v1', f2: 'v2' }), 2);
  t.deepEqual(await client.hgetall('h'), { f1: 'v1', f2: 'v2' });
  t.is(await client.hget('h', 'f2'), 'v2');
  t.is(await client.zadd('z', '1', 'one', '2', 'two', '3', 'three'), 3);
  t.deepEqual(await client.zrange('z', '0', '-1', 'WITHSCORES'), ['one', '1', 'two', '2', 'three', '3']);
  t.is(await client.zscore('z', 'two'), '2');
  t.is(await client.type('z'), 'zset');
  // RESP3: a map stays a map, as Redis sends it to a RESP3 client.
  const resp3 = new Redis({ port: proxy.respPort, protocol: 3 });
  try {
    t.deepEqual(await resp3.call('HGETALL', 'h'), ['f1', 'v1', 'f2', 'v2']);
    t.deepEqual(await resp3.call('ZSCORE', 'z', 'two'), '2');
  } finally {
    resp3.disconnect();
  }
});

dropInTest.serial('expiry: EXPIRE, TTL, PERSIST, and an expired key is gone through the proxy too', async (t) => {
  await client.set('e', 'v');
  t.is(await client.get('e'), 'v');
  t.is(await client.expire('e', 100), 1);
  t.true((await client.ttl('e')) > 90);
  t.is(await client.persist('e'), 1);
  t.is(await client.ttl('e'), -1);
  t.is(await client.pexpire('e', 150), 1);
  await new Promise((r) => setTimeout(r, 300));
  // The proxy cached 'v' an hour ago (in test time); PEXPIRE through it dropped that entry.
  t.is(await client.get('e'), null);
  t.is(await client.exists('e'), 0);
});

dropInTest.serial("SCAN with MATCH and COUNT, KEYS and DBSIZE are Redis's", async (t) => {
  await direct().flushdb();
  const keys = Array.from({ length: 300 }, (_, i) => `scan:${i}`);
  await client.mset(Object.fromEntries(keys.map((k) => [k, 'v'])));
  await client.set('other', 'v');
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', 'scan:*', 'COUNT', 50);
    for (const k of batch) found.add(k);
    cursor = next;
  } while (cursor !== '0');
  t.deepEqual([...found].sort(), [...keys].sort());
  t.is((await client.keys('scan:1?')).length, 10);
  t.is(await client.dbsize(), 301);
});

dropInTest.serial('SELECT: each client in its own database; the same key in db 0 and db 1 are different entries', async (t) => {
  const db1 = new Redis({ port: proxy.respPort, db: 1 });
  try {
    await client.set('same', 'in db0');
    await db1.set('same', 'in db1');
    t.is(await client.get('same'), 'in db0');
    t.is(await db1.get('same'), 'in db1');
    t.is(await client.get('same'), 'in db0', 'from the cache, still db 0');
    await direct().select(1);
    t.is(await direct().get('same'), 'in db1');
    await direct().select(0);
    // A write in db 1 does not let db 0 serve anything stale, and db 0 keeps its own value.
    await db1.set('same', 'changed in db1');
    t.is(await db1.get('same'), 'changed in db1');
    t.is(await client.get('same'), 'in db0');
    await t.throwsAsync(client.select(16), { message: 'ERR DB index is out of range' });
    t.is(await client.dbsize(), await direct().dbsize());
  } finally {
    db1.disconnect();
  }
});

dropInTest.serial('binary keys and values go through writes and reads byte for byte', async (t) => {
  const key = Buffer.from([0, 13, 10, 0xff, 0x24]);
  const value = Buffer.from([0xff, 0, 13, 10, 0x2a, 0x2d]);
  t.is(await client.set(key, value), 'OK');
  t.deepEqual(await client.getBuffer(key), value);
  t.deepEqual(await direct().getBuffer(key), value);
  await client.append(key, Buffer.from([0]));
  t.deepEqual(await client.getBuffer(key), Buffer.concat([value, Buffer.from([0])]));
});

dropInTest.serial('read your own writes: 1000 rounds of SET then GET never return an older value, pipelined or not', async (t) => {
  const other = new Redis({ port: proxy.respPort });
  try {
    for (let i = 0; i < 300; i++) {
      await client.set('ryw', `v${i}`);
      t.is(await other.get('ryw'), `v${i}`);
    }
    const pipeline = client.pipeline();
    for (let i = 0; i < 1000; i++) pipeline.set('ryw', `p${i}`).get('ryw');
    const results = (await pipeline.exec())!;
    for (let i = 0; i < 1000; i++) t.is(results[2 * i + 1]![1], `p${i}`);
    t.is(await other.get('ryw'), 'p999');
  } finally {
    other.disconnect();
  }
});

dropInTest.serial('read your own writes after DEL, EXPIRE 0, FLUSHDB, a MULTI/EXEC that writes, and an EVAL that writes', async (t) => {
  const cases: [string, (k: string) => Promise<unknown>, string | null][] = [
    ['DEL', (k) => client.del(k), null],
    ['EXPIRE 0', (k) => client.expire(k, 0), null],
    ['FLUSHDB', () => client.flushdb(), null],
    ['MULTI/EXEC', (k) => client.multi().set(k, 'from multi').exec(), 'from multi'],
    ['EVAL', (k) => client.eval("redis.call('SET', KEYS[1], ARGV[1])", 1, k, 'from eval'), 'from eval'],
    ['EVAL on an undeclared key', (k) => client.eval(`redis.call('SET', '${k}', 'sneaky')`, 0), 'sneaky'],
    [
      'SET through a RESP3 client',
      async (k) => {
        const c = new Redis({ port: proxy.respPort, protocol: 3 });
        await c.set(k, 'resp3');
        c.disconnect();
      },
      'resp3',
    ],
  ];
  for (const [name, write, expected] of cases) {
    const key = `ryw:${name}`;
    await direct().set(key, 'old');
    t.is(await client.get(key), 'old', `${name}: cached`);
    await write(key);
    t.is(await client.get(key), expected, name);
  }
});

dropInTest.serial('a client pipelining GET, SET, GET of one key sees what Redis would: the old value, then the new', async (t) => {
  await direct().set('order', 'before');
  t.is(await client.get('order'), 'before'); // cached
  for (let i = 0; i < 50; i++) {
    const results = (await client.pipeline().get('order').set('order', `after${i}`).get('order').exec())!;
    t.deepEqual(
      results.map(([, v]) => v),
      [i === 0 ? 'before' : `after${i - 1}`, 'OK', `after${i}`],
    );
  }
});

dropInTest.serial("refused commands get a clear error in Redis's form, and the connection stays usable", async (t) => {
  for (const [args, message] of [
    [['CLIENT', 'PAUSE', '10'], /^ERR 'CLIENT PAUSE' is not allowed through redis-cache-proxy: /],
    [['CLIENT', 'TRACKING', 'on'], /^ERR 'CLIENT TRACKING' is not allowed through redis-cache-proxy: /],
    [['SHUTDOWN'], /^ERR 'SHUTDOWN' is not allowed through redis-cache-proxy: /],
    [['DEBUG', 'SLEEP', '1'], /^ERR 'DEBUG' is not allowed through redis-cache-proxy: /],
    [['REPLICAOF', 'NO', 'ONE'], /^ERR 'REPLICAOF' is not allowed/],
    [['CLUSTER', 'SLOTS'], /^ERR This instance has cluster support disabled$/],
  ] as const) {
    await t.throwsAsync(client.call(args[0], ...args.slice(1)), { message }, args.join(' '));
  }
  t.is(await client.ping(), 'PONG');
  t.is(await direct().ping(), 'PONG', 'Redis was not shut down');
});
