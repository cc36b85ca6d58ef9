// Libraries and tools used unmodified, as their users use them, with only the address changed: bullmq, keyv, node-redis, ioredis, redis-py, redis-cli, redis-benchmark.
import { spawn } from 'node:child_process';
import KeyvRedis from '@keyv/redis';
import test, { type ExecutionContext } from 'ava';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import Keyv from 'keyv';
import { createClient, RESP_TYPES } from 'redis';
import { EXTERNAL, freshKey } from '../helpers/external.ts';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, proxyUnderTest, startProxy, type TestProxy } from '../helpers/proxy-process.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { holdsWithin } from '../helpers/eventually.ts';
import { requireTool, run } from '../helpers/tools.ts';

// One Redis and one proxy for the file (or the external ones); each test keeps to its own keys (freshKey)
// and mostly its own database, so they run at the same time. Databases: 0 redis-cli, 1 node-redis and
// redis-py, 2 ioredis, 3 keyv, 4 bullmq, 5 --bigkeys, 6 redis-benchmark, 7 keyv behind a proxy of its
// own, 10 and 11 transactions after SELECT.
let redis: TestRedis;
let proxy: TestProxy;

test.before(async () => {
  requireTool('redis-cli');
  requireTool('redis-benchmark');
  redis = await startRedis();
  proxy = await proxyUnderTest(redis);
});
test.after.always(async () => {
  await proxy?.close();
  await redis?.close();
});

/** host:port of the proxy, and the URL node-redis and keyv take, in database `db`. */
const proxyHost = () => proxy.respAddress.host;
const proxyPort = () => proxy.respAddress.port;
const proxyUrl = (db: number) => `redis://${proxyHost()}:${proxyPort()}/${db}`;

/** A client of Redis itself (not the proxy) in database `db`, RESP2, closed when the test ends. */
async function direct(t: ExecutionContext, db: number): Promise<Redis> {
  const client = redis.client.duplicate({ db });
  t.teardown(() => client.disconnect());
  if (client.status !== 'ready') await client.connect();
  return client;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sorted = (items: string[]) => [...items].sort();

/** keyv over @keyv/redis at `url`, namespaced; its key layout in Redis is `ns::ns:key` (keyv 5 with @keyv/redis 5). */
function keyvAt(t: ExecutionContext, url: string, namespace: string) {
  const keyv = new Keyv({ store: new KeyvRedis(url), namespace });
  const errors: unknown[] = [];
  keyv.on('error', (err) => errors.push(err));
  t.teardown(() => keyv.disconnect());
  return { keyv, errors, redisKey: (key: string) => `${namespace}::${namespace}:${key}` };
}

// Serial tests run before the others, so Redis's read counters see this test's reads alone.
localOnly("counts Redis's reads, which other files' tests move on a shared Redis").serial(
  "the libraries' GETs are still answered from the cache: repeated reads reach Redis once per key",
  async (t) => {
    const node = createClient({ url: proxyUrl(1), RESP: 3 });
    await node.connect();
    t.teardown(() => node.destroy());
    const io = new Redis({ host: proxyHost(), port: proxyPort(), db: 2 });
    t.teardown(() => io.disconnect());
    const { keyv } = keyvAt(t, proxyUrl(3), 'cached');
    t.is(await node.set('cached:node', 'n'), 'OK');
    t.is(await io.set('cached:io', 'i'), 'OK');
    t.true(await keyv.set('key', { cached: true }));
    const reads = await redis.readsDuring(async () => {
      for (let round = 0; round < 50; round++) {
        t.is(await node.get('cached:node'), 'n');
        t.is(await io.get('cached:io'), 'i');
        t.deepEqual(await keyv.get('key'), { cached: true });
      }
    });
    t.is(reads, 3, 'one read per key, the first, after the write made it stale');
  },
);

test('bullmq: a queue and a worker through the proxy process 1000 jobs, each result checked, and the queue ends empty', async (t) => {
  t.timeout(60_000);
  const name = freshKey('doubler');
  const connection = { host: proxyHost(), port: proxyPort(), db: 4, maxRetriesPerRequest: null };
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  // As its users do: errors are listened to, and there must be none, closing included.
  const errors: string[] = [];
  queue.on('error', (err) => errors.push(`queue: ${err.message}`));
  events.on('error', (err) => errors.push(`events: ${err.message}`));
  t.teardown(async () => {
    await events.close();
    await queue.close();
  });
  await events.waitUntilReady();

  const fromEvents = new Map<string, unknown>();
  const allCompleted = new Promise<void>((resolve) => {
    events.on('completed', ({ jobId, returnvalue }) => {
      fromEvents.set(jobId, returnvalue);
      if (fromEvents.size === 1000) resolve();
    });
  });
  const failures: string[] = [];
  const worker = new Worker(name, (job) => Promise.resolve((job.data as { n: number }).n * 2), { connection, concurrency: 20 });
  worker.on('failed', (job, err) => failures.push(`${job?.id}: ${err.message}`));
  worker.on('error', (err) => errors.push(`worker: ${err.message}`));
  t.teardown(() => worker.close());

  const jobs = await queue.addBulk(range(1000).map((n) => ({ name: 'double', data: { n } })));
  t.is(jobs.length, 1000);
  await allCompleted;
  t.deepEqual(failures, []);

  // Every job, read back from the queue: its data and its result.
  const completed = await queue.getCompleted(0, -1);
  t.is(completed.length, 1000);
  const seen = new Set<number>();
  for (const job of completed) {
    const { n } = job.data as { n: number };
    t.is(job.returnvalue, n * 2, `job ${job.id} (n=${n})`);
    seen.add(n);
  }
  t.deepEqual(
    [...seen].sort((a, b) => a - b),
    range(1000),
  );
  // The events carried the same results.
  for (const job of jobs) t.is(fromEvents.get(job.id!), (job.data as { n: number }).n * 2, `event of job ${job.id}`);

  t.deepEqual(await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children'), {
    waiting: 0,
    active: 0,
    delayed: 0,
    failed: 0,
    completed: 1000,
    prioritized: 0,
    'waiting-children': 0,
  });
  // bullmq's keys are in database 4 on Redis, and nowhere else.
  const db4 = await direct(t, 4);
  t.is(await db4.zcard(`bull:${name}:completed`), 1000);
  t.deepEqual(await (await direct(t, 0)).keys(`bull:${name}:*`), []);

  // The worker's blocked BZPOPMIN and the events' XREAD BLOCK ran on connections of their own; once
  // bullmq closes, none of them is left on Redis (no other test has sessions in database 4).
  const sessionsInDb4 = async () =>
    ((await db4.client('LIST')) as string).split('\n').filter((l) => / name=redis-cache-proxy-session /.test(l) && / db=4 /.test(l));
  t.not((await sessionsInDb4()).length, 0, 'bullmq has session connections while it runs');
  await worker.close();
  await events.close();
  await queue.close();
  t.true(await holdsWithin(async () => (await sessionsInDb4()).length === 0), 'no session connection of bullmq left on Redis');
  t.deepEqual(errors, []);
});

test('keyv with @keyv/redis: set, get, has, delete, clear and TTLs through the proxy, each write visible in Redis', async (t) => {
  const { keyv, errors, redisKey } = keyvAt(t, proxyUrl(3), freshKey('app'));
  const db3 = await direct(t, 3);
  const values: Record<string, unknown> = {
    text: 'Superhero',
    unicode: 'héros — 英雄 🦇',
    number: 42.5,
    zero: 0,
    flag: false,
    object: { name: 'Batman', allies: ['Robin', 'Alfred'], city: { name: 'Gotham', population: 1_000_000 } },
    array: [1, 'two', null, { three: 3 }],
    big: 'x'.repeat(100_000),
  };
  for (const [key, value] of Object.entries(values)) t.true(await keyv.set(key, value), `set ${key}`);
  for (const [key, value] of Object.entries(values)) t.deepEqual(await keyv.get(key), value, `get ${key}`);
  // What keyv wrote is in Redis, in database 3, as keyv serialises it.
  for (const [key, value] of Object.entries(values)) {
    t.deepEqual(JSON.parse((await db3.get(redisKey(key)))!), { value }, `${key} in Redis`);
  }
  t.deepEqual(await keyv.get(['text', 'number', 'missing']), ['Superhero', 42.5, undefined]);

  // The cache holds 'text' now; a write through the proxy replaces it for the next read at once.
  t.true(await keyv.set('text', 'Vigilante'));
  t.is(await keyv.get('text'), 'Vigilante');
  t.is((JSON.parse((await db3.get(redisKey('text')))!) as { value: unknown }).value, 'Vigilante');

  t.true(await keyv.has('object'));
  t.false(await keyv.has('missing'));
  t.true(await keyv.delete('object'));
  t.is(await keyv.get('object'), undefined);
  t.false(await keyv.has('object'));
  t.is(await db3.exists(redisKey('object')), 0);
  t.false(await keyv.delete('object'), 'a second delete finds nothing');

  // TTLs: Redis expires the key (PX), and keyv stops returning it.
  t.true(await keyv.set('short', 'gone soon', 300));
  t.true(await keyv.set('long', 'stays', 60_000));
  const shortTtl = await db3.pttl(redisKey('short'));
  t.true(shortTtl > 0 && shortTtl <= 300, `PTTL of short is ${shortTtl}`);
  const longTtl = await db3.pttl(redisKey('long'));
  t.true(longTtl > 59_000 && longTtl <= 60_000, `PTTL of long is ${longTtl}`);
  t.is(await keyv.get('short'), 'gone soon');
  t.true(await holdsWithin(async () => (await db3.exists(redisKey('short'))) === 0), 'Redis expired the key');
  t.is(await keyv.get('short'), undefined);
  t.is(await keyv.get('long'), 'stays');

  // clear() empties the namespace (SCAN … TYPE string, UNLINK) and nothing else.
  const outsider = freshKey('not-keyv');
  await db3.set(outsider, 'kept');
  await keyv.clear();
  for (const key of Object.keys(values)) t.is(await keyv.get(key), undefined, `${key} after clear`);
  t.deepEqual(await db3.keys(`${redisKey('')}*`), []);
  t.is(await db3.get(outsider), 'kept');
  t.deepEqual(errors, []);
});

localOnly('starts a proxy with CACHE_EXPIRY=3600')(
  'keyv: a write made directly in Redis is read through keyv right after it, though the proxy had the value cached',
  async (t) => {
    // An hour: only Redis's invalidation (CLIENT TRACKING) can explain a fresh value here.
    const cachingProxy = await startProxy({ env: { ...backendEnv(redis), CACHE_EXPIRY: '3600' } });
    t.teardown(() => cachingProxy.stop());
    const { keyv, errors, redisKey } = keyvAt(t, `redis://127.0.0.1:${cachingProxy.respPort}/7`, 'ext');
    const db7 = await direct(t, 7);
    const stats = new Redis({ port: cachingProxy.respPort });
    t.teardown(() => stats.disconnect());
    const cacheHits = async () => Number(/^cache_hits:(\d+)/m.exec(await stats.info('cache'))![1]);
    t.true(await keyv.set('colour', 'red'));
    t.is(await keyv.get('colour'), 'red');
    const hits = await cacheHits();
    t.is(await keyv.get('colour'), 'red');
    t.is(await cacheHits(), hits + 1, 'the value is cached by the proxy now');
    // Another application writes Redis directly, in keyv's format; then deletes it. (The bound proves
    // "did not wait for the hour", not a latency.)
    await db7.set(redisKey('colour'), JSON.stringify({ value: 'blue' }));
    t.true(await holdsWithin(async () => (await keyv.get('colour')) === 'blue', 5000), 'the direct write is read through keyv');
    await db7.del(redisKey('colour'));
    t.true(await holdsWithin(async () => (await keyv.get('colour')) === undefined, 5000), 'the direct delete is read through keyv');
    t.deepEqual(errors, []);
  },
);

for (const RESP of [2, 3] as const) {
  test(`node-redis (RESP${RESP}): redis://…/1 uses database 1, multi().exec(), scanIterator over 1000 keys`, async (t) => {
    const client = createClient({ url: proxyUrl(1), RESP });
    const errors: Error[] = [];
    client.on('error', (err: Error) => errors.push(err));
    await client.connect();
    t.teardown(() => client.destroy());
    const db1 = await direct(t, 1);
    const db0 = await direct(t, 0);
    const p = `${freshKey(`nr${RESP}`)}:`;

    t.is(await client.set(`${p}hero`, 'Batman'), 'OK');
    t.is(await client.get(`${p}hero`), 'Batman');
    t.is(await db1.get(`${p}hero`), 'Batman', 'written in database 1');
    t.is(await db0.get(`${p}hero`), null, 'not in database 0');
    t.is(await client.set(`${p}hero`, 'Robin'), 'OK');
    t.is(await client.get(`${p}hero`), 'Robin', 'the next read sees the write');

    const replies = await client
      .multi()
      .set(`${p}count`, '10')
      .incrBy(`${p}count`, 5)
      .get(`${p}count`)
      .hSet(`${p}hash`, { name: 'Bruce', city: 'Gotham' })
      .hGetAll(`${p}hash`)
      .zAdd(`${p}z`, [
        { score: 1.5, value: 'a' },
        { score: 2, value: 'b' },
      ])
      .zRangeWithScores(`${p}z`, 0, -1)
      .exec();
    t.deepEqual(JSON.parse(JSON.stringify(replies)), [
      'OK',
      15,
      '15',
      2,
      { name: 'Bruce', city: 'Gotham' },
      2,
      [
        { value: 'a', score: 1.5 },
        { value: 'b', score: 2 },
      ],
    ]);
    t.is(await client.get(`${p}count`), '15', 'read after the transaction: its write, not an older value');
    t.is(await db1.get(`${p}count`), '15');
    t.deepEqual(await db1.hgetall(`${p}hash`), { name: 'Bruce', city: 'Gotham' });

    // Binary values come back byte for byte.
    const bytes = Buffer.from(range(256));
    await client.set(`${p}bytes`, bytes);
    t.deepEqual(await client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(`${p}bytes`), bytes);

    const pipeline = db1.pipeline();
    for (const i of range(1000)) pipeline.set(`${p}scan:${i}`, String(i));
    for (const i of range(50)) pipeline.set(`${p}other:${i}`, String(i));
    await pipeline.exec();
    const found: string[] = [];
    for await (const keys of client.scanIterator({ MATCH: `${p}scan:*`, COUNT: 100 })) found.push(...keys);
    t.is(found.length, 1000, 'every key once, no more');
    t.deepEqual(sorted(found), sorted(range(1000).map((i) => `${p}scan:${i}`)));
    t.deepEqual(errors, []);
  });
}

test('ioredis: db 2 is database 2, scanStream finds every key once, multi().exec()', async (t) => {
  const client = new Redis({ host: proxyHost(), port: proxyPort(), db: 2 });
  t.teardown(() => client.disconnect());
  const db2 = await direct(t, 2);
  const db0 = await direct(t, 0);
  const p = `${freshKey('io')}:`;

  t.is(await client.set(`${p}hero`, 'Batman'), 'OK');
  t.is(await client.get(`${p}hero`), 'Batman');
  t.is(await db2.get(`${p}hero`), 'Batman', 'written in database 2');
  t.is(await db0.get(`${p}hero`), null, 'not in database 0');

  await db2.mset(...range(1000).flatMap((i) => [`${p}scan:${i}`, String(i)]), ...range(50).flatMap((i) => [`${p}other:${i}`, '']));
  const found: string[] = [];
  for await (const keys of client.scanStream({ match: `${p}scan:*`, count: 100 })) found.push(...(keys as string[]));
  t.is(found.length, 1000, 'every key once, no more');
  t.deepEqual(sorted(found), sorted(range(1000).map((i) => `${p}scan:${i}`)));

  t.deepEqual(await client.multi().set(`${p}tx`, '1').incrby(`${p}tx`, 41).get(`${p}tx`).lpush(`${p}list`, 'a', 'b').lrange(`${p}list`, 0, -1).exec(), [
    [null, 'OK'],
    [null, 42],
    [null, '42'],
    [null, 2],
    [null, ['b', 'a']],
  ]);
  t.is(await client.get(`${p}tx`), '42');
  t.is(await db2.get(`${p}tx`), '42');
});

test('ioredis: a pipeline mixing SET, GET, INCR and DEL returns exactly what Redis returns for it', async (t) => {
  /** The same commands on keys under prefix `p`, on a client of the proxy or of Redis. */
  const mixed = (client: Redis, p: string) =>
    client
      .pipeline()
      .get(`${p}a`) // cached from the warm-up, through the proxy
      .set(`${p}a`, '1')
      .get(`${p}a`)
      .incr(`${p}a`)
      .get(`${p}a`)
      .incr(`${p}n`)
      .incr(`${p}n`)
      .get(`${p}n`)
      .mget(`${p}a`, `${p}n`, `${p}none`)
      .del(`${p}a`)
      .get(`${p}a`)
      .incr(`${p}a`)
      .set(`${p}s`, 'text')
      .incr(`${p}s`) // an error reply in the middle
      .get(`${p}s`)
      .del(`${p}a`, `${p}n`, `${p}s`, `${p}none`)
      .get(`${p}n`)
      .set(`${p}a`, 'last')
      .get(`${p}a`)
      .exec();
  const viaProxy = new Redis({ host: proxyHost(), port: proxyPort(), db: 2 });
  t.teardown(() => viaProxy.disconnect());
  const toRedis = await direct(t, 2);
  // Fresh keys for each, so both start from nothing.
  const [p, q] = [`${freshKey('pipe-proxy')}:`, `${freshKey('pipe-redis')}:`];
  // Warm the cache: 'a' and 'n' are cached as absent before the pipeline writes them.
  t.deepEqual(await viaProxy.mget(`${p}a`, `${p}n`), [null, null]);

  const expected = await mixed(toRedis, q);
  const got = await mixed(viaProxy, p);
  const shown = (results: [Error | null, unknown][] | null) => results!.map(([err, value]) => (err ? `ERR ${err.message}` : value));
  t.deepEqual(shown(got), shown(expected));
  t.deepEqual(shown(expected).slice(0, 5), [null, 'OK', '1', 2, '2'], 'the reference is what Redis is known to answer');
  t.is(shown(expected)[13], 'ERR ERR value is not an integer or out of range');
  // The same pipeline again, now with its keys cached by the first run's reads.
  t.deepEqual(await viaProxy.mget(`${p}a`, `${p}n`), ['last', null]);
  t.deepEqual(shown(await mixed(viaProxy, p)), shown(await mixed(toRedis, q)));
});

test("redis-py (Debian's python3-redis): db=1, SET/GET, pipeline with WATCH/MULTI/EXEC, pipeline without, Pub/Sub", async (t) => {
  const script = `
import json, sys, time, redis
proxy_host, proxy_port, redis_url, p = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
r = redis.Redis(host=proxy_host, port=proxy_port, db=1)
other = redis.Redis(host=proxy_host, port=proxy_port, db=1)
direct = redis.Redis.from_url(redis_url, db=1)
out = {}
out['set'] = r.set(p + 'k', 'v1')
out['get'] = r.get(p + 'k').decode()
r.set(p + 'k', 'v2')
out['get_after_set'] = r.get(p + 'k').decode()
out['direct_db1'] = direct.get(p + 'k').decode()
out['direct_db0'] = redis.Redis.from_url(redis_url, db=0).get(p + 'k')
r.set(p + 'counter', 10)
with r.pipeline(transaction=True) as pipe:
    pipe.watch(p + 'counter')
    current = int(pipe.get(p + 'counter'))
    pipe.multi()
    pipe.set(p + 'counter', current + 1)
    pipe.incr(p + 'counter')
    pipe.get(p + 'counter')
    out['tx'] = [x.decode() if isinstance(x, bytes) else x for x in pipe.execute()]
with r.pipeline(transaction=True) as pipe:
    pipe.watch(p + 'counter')
    current = int(pipe.get(p + 'counter'))
    other.set(p + 'counter', 100)
    pipe.multi()
    pipe.set(p + 'counter', current + 1)
    try:
        pipe.execute()
        out['watch_conflict'] = 'executed'
    except redis.WatchError:
        out['watch_conflict'] = 'WatchError'
out['counter_after_conflict'] = r.get(p + 'counter').decode()
with r.pipeline(transaction=False) as pipe:
    pipe.set(p + 'p1', 'a').get(p + 'p1').incr(p + 'p2').incrby(p + 'p2', 5).delete(p + 'p1').get(p + 'p1').rpush(p + 'l', 'x', 'y').lrange(p + 'l', 0, -1)
    out['pipeline'] = [[y.decode() for y in x] if isinstance(x, list) else x.decode() if isinstance(x, bytes) else x for x in pipe.execute()]
channel = p + 'ch'
ps = r.pubsub()
ps.subscribe(channel)
first = ps.get_message(timeout=10)
out['subscribed'] = [first['type'], first['channel'].decode() == channel, first['data']]
out['receivers'] = other.publish(channel, 'through the proxy')
direct.publish(channel, 'from redis')
messages = []
deadline = time.time() + 10
while len(messages) < 2 and time.time() < deadline:
    m = ps.get_message(timeout=1)
    if m and m['type'] == 'message':
        messages.append([m['channel'].decode() == channel, m['data'].decode()])
out['messages'] = messages
ps.unsubscribe(channel)
m = ps.get_message(timeout=10)
out['unsubscribed'] = [m['type'], m['data']]
ps.close()
out['ping'] = r.ping()
print(json.dumps(out))
`;
  // The Redis behind the proxy, without a database: the script picks its own.
  const url = new URL(EXTERNAL?.redisUrl ?? `redis://${redis.host}:${redis.port}`);
  url.pathname = '';
  const p = `${freshKey('py')}:`;
  const { code, stdout, stderr } = await run('/usr/bin/python3', ['-c', script, proxyHost(), String(proxyPort()), url.href, p]);
  t.is(code, 0, stderr);
  t.deepEqual(JSON.parse(stdout), {
    set: true,
    get: 'v1',
    get_after_set: 'v2',
    direct_db1: 'v2',
    direct_db0: null,
    tx: [true, 12, '12'],
    watch_conflict: 'WatchError',
    counter_after_conflict: '100',
    pipeline: [true, 'a', 1, 6, 1, null, 2, ['x', 'y']],
    subscribed: ['subscribe', true, 1],
    receivers: 1,
    messages: [
      [true, 'through the proxy'],
      [true, 'from redis'],
    ],
    unsubscribed: ['unsubscribe', 0],
    ping: true,
  });
  const db1 = await direct(t, 1);
  t.is(await db1.get(`${p}counter`), '100');
  t.deepEqual(await db1.lrange(`${p}l`, 0, -1), ['x', 'y']);
});

/** -h and -p for redis-cli and redis-benchmark. */
const at = () => ['-h', proxyHost(), '-p', String(proxyPort())];
const cli = (args: string[], input = '') => run('redis-cli', [...at(), ...args], input);

test('redis-cli --scan --pattern lists every matching key once', async (t) => {
  const db0 = await direct(t, 0);
  const p = `${freshKey('cli')}:`;
  await db0.mset(...range(1000).flatMap((i) => [`${p}scan:${i}`, 'v']), ...range(100).flatMap((i) => [`${p}not:${i}`, 'v']));
  const { code, stdout, stderr } = await cli(['--scan', '--pattern', `${p}scan:*`]);
  t.is(code, 0, stderr);
  const listed = stdout.split('\n').filter((l) => l !== '');
  t.is(listed.length, 1000);
  t.deepEqual(sorted(listed), sorted(range(1000).map((i) => `${p}scan:${i}`)));
});

localOnly('needs a database of its own: --bigkeys reports on all of it')(
  'redis-cli --bigkeys runs to the end and names the biggest key of each type',
  async (t) => {
    const db5 = await direct(t, 5);
    await db5.set('str:small', 'ab');
    await db5.set('str:big', 'x'.repeat(1000));
    await db5.rpush('list:long', ...range(30).map(String));
    await db5.rpush('list:short', 'a');
    await db5.hset('hash:wide', Object.fromEntries(range(7).map((i) => [`f${i}`, 'v'])));
    await db5.hset('hash:narrow', 'f', 'v');
    await db5.sadd('set:big', 'a', 'b', 'c', 'd');
    await db5.sadd('set:small', 'a');
    await db5.zadd('zset:big', 1, 'a', 2, 'b', 3, 'c');
    await db5.zadd('zset:small', 1, 'a');
    await db5.xadd('stream:big', '*', 'f', '1');
    await db5.xadd('stream:big', '*', 'f', '2');
    await db5.xadd('stream:small', '*', 'f', '1');
    const { code, stdout, stderr } = await cli(['-n', '5', '--bigkeys']);
    t.is(code, 0, stderr);
    t.regex(stdout, /Sampled 12 keys in the keyspace!/);
    t.regex(stdout, /Biggest +string found '"str:big"' has 1000 bytes/);
    t.regex(stdout, /Biggest +list found '"list:long"' has 30 items/);
    t.regex(stdout, /Biggest +hash found '"hash:wide"' has 7 fields/);
    t.regex(stdout, /Biggest +set found '"set:big"' has 4 members/);
    t.regex(stdout, /Biggest +zset found '"zset:big"' has 3 members/);
    t.regex(stdout, /Biggest +stream found '"stream:big"' has 2 entries/);
    t.regex(stdout, /2 strings with 1002 bytes/);
  },
);

test('redis-cli monitor shows a SET sent through the proxy, and its backend connection goes when it stops', async (t) => {
  const monitor = spawn('redis-cli', [...at(), 'monitor'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => monitor.kill('SIGKILL'));
  let printed = '';
  monitor.stdout.on('data', (d) => (printed += d));
  monitor.stderr.on('data', (d) => (printed += d));
  t.true(await holdsWithin(() => /^OK$/m.test(printed)), `redis-cli monitor started: ${printed}`);
  const writer = new Redis({ host: proxyHost(), port: proxyPort(), protocol: 2 });
  t.teardown(() => writer.disconnect());
  const key = freshKey('monitor');
  await writer.set(key, 'seen by MONITOR');
  // The line as Redis prints it: time, database and client (one of the proxy's connections), the command as sent.
  const line = new RegExp(`^\\d+\\.\\d+ \\[0 \\S+\\] "set" "${key}" "seen by MONITOR"$`, 'm');
  t.true(await holdsWithin(() => line.test(printed)), `the SET in the monitor's output:\n${printed.slice(-2000)}`);
  const exited = new Promise((r) => monitor.once('close', r));
  monitor.kill('SIGINT');
  await exited;
  // The proxy closes the monitoring session's own connection to Redis once its client is gone. (Against
  // a shared Redis, another file's MONITOR may be running: there is nothing to tell them apart by.)
  if (!EXTERNAL) {
    const db0 = await direct(t, 0);
    t.true(await holdsWithin(async () => !/cmd=monitor/.test((await db0.client('LIST')) as string)), 'no MONITOR connection left on Redis');
  }
});

test('redis-benchmark with its default test list runs every test through the proxy, with no errors, and leaves Redis its keys', async (t) => {
  t.timeout(120_000);
  const db6 = await direct(t, 6);
  // Its keys have fixed names: against a Redis that keeps them from earlier runs, what it adds is counted.
  const before = { counter: Number(await db6.get('counter:__rand_int__')), list: await db6.llen('mylist') };
  const { code, stdout, stderr } = await run('redis-benchmark', [...at(), '--dbnum', '6', '-n', '2000', '-q'], '', 110_000);
  t.is(code, 0, stderr);
  // -q rewrites its progress line with \r; the results are the lines that name a rate.
  const lines = stdout
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const results = lines.filter((l) => / requests per second/.test(l)).map((l) => l.slice(0, l.indexOf(':')));
  t.deepEqual(results, [
    'PING_INLINE',
    'PING_MBULK',
    'SET',
    'GET',
    'INCR',
    'LPUSH',
    'RPUSH',
    'LPOP',
    'RPOP',
    'SADD',
    'HSET',
    'SPOP',
    'ZADD',
    'ZPOPMIN',
    'LPUSH (needed to benchmark LRANGE)',
    'LRANGE_100 (first 100 elements)',
    'LRANGE_300 (first 300 elements)',
    'LRANGE_500 (first 500 elements)',
    'LRANGE_600 (first 600 elements)',
    'MSET (10 keys)',
  ]);
  t.deepEqual(
    lines.filter((l) => /error/i.test(l)),
    [],
  );
  t.is(stderr, '');

  // What it wrote is in database 6 on Redis: 2000 INCRs, and LPUSH+RPUSH+LPUSH−LPOP−RPOP = 2000 elements more.
  t.is(Number(await db6.get('counter:__rand_int__')), before.counter + 2000);
  t.is(await db6.llen('mylist'), before.list + 2000);
  t.is((await db6.get('key:__rand_int__'))?.length, 3, 'a value of -d 3 bytes');
  t.deepEqual(Object.keys(await db6.hgetall('myhash')), ['element:__rand_int__']);
  // And the proxy still answers, in that database too.
  const after = new Redis({ host: proxyHost(), port: proxyPort(), db: 6 });
  t.teardown(() => after.disconnect());
  t.is(await after.ping(), 'PONG');
  const counter = before.counter + 2000;
  t.is(await after.get('counter:__rand_int__'), String(counter));
  t.is(await after.incr('counter:__rand_int__'), counter + 1);
  t.is(await after.get('counter:__rand_int__'), String(counter + 1));
});

test('redis-cli typing transactions: after SELECT, MULTI … EXEC runs in the new database, as on Redis', async (t) => {
  // A session's connection is kept for the client's next session; the second MULTI finds it still in database 0.
  const [first, key, count] = [freshKey('tx:first'), freshKey('tx:key'), freshKey('tx:count')];
  const typed = ['MULTI', `SET ${first} 1`, 'EXEC', 'SELECT 10', 'MULTI', `SET ${key} v`, `INCR ${count}`, 'EXEC', `GET ${key}`, `GET ${count}`];
  const { code, stdout, stderr } = await cli([], `${typed.join('\n')}\n`);
  t.is(code, 0, stderr);
  t.deepEqual(stdout.split('\n'), ['OK', 'QUEUED', 'OK', 'OK', 'OK', 'QUEUED', 'QUEUED', 'OK', '1', 'v', '1', '']);
  const db10 = await direct(t, 10);
  t.deepEqual(await db10.mget(key, count), ['v', '1']);
  const db0 = await direct(t, 0);
  t.deepEqual(await db0.mget(first, key, count), ['1', null, null]);
});

test('ioredis: WATCH and SELECT pipelined: the watch is on the key of the database WATCH was sent in, as on Redis', async (t) => {
  const client = new Redis({ host: proxyHost(), port: proxyPort(), db: 0 });
  t.teardown(() => client.disconnect());
  const db0 = await direct(t, 0);
  const [watched, other] = [freshKey('watched'), freshKey('written')];
  await db0.set(watched, 'before');
  t.deepEqual(await client.pipeline().watch(watched).select(11).exec(), [
    [null, 'OK'],
    [null, 'OK'],
  ]);
  // Another client changes the watched key (database 0): the transaction must not run.
  await db0.set(watched, 'changed');
  t.is(await client.multi().set(other, 'written').exec(), null);
  t.is(await (await direct(t, 11)).get(other), null);
});
