// Redis Cluster behind the proxy (REDIS_CLUSTER_NODES): one plain endpoint whose keys land on their slot's master, multi-key commands split and merged, fan-outs, refusals, sessions, one coherent cache.
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { EXTERNAL } from '../helpers/external.ts';
import { eventually } from '../helpers/eventually.ts';
import { localOnly } from '../helpers/local-only.ts';
import { startClusterProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { connectRaw } from '../helpers/raw-client.ts';
import { startRedisCluster, type LiveNode, type TestCluster } from '../helpers/redis-cluster.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { run } from '../helpers/tools.ts';

/** Against an external proxy these are skipped: they need a proxy in front of a cluster of their own, and empty it. */
const clusterTest = localOnly('starts a Redis Cluster and a proxy in front of it, and empties the cluster (FLUSHALL)');

const CROSSSLOT = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";

let cluster: TestCluster;
let proxy: ProxyProcess;
/** A plain (not cluster-aware) ioredis client of the proxy, RESP2. */
let client: Redis;

/** One command as RESP2 multibulk bytes. */
const resp = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Sends `commands` then PING on a new connection to `port`; every reply up to the PONG, as bytes. */
async function exchangeAll(port: number, commands: string[][]): Promise<string> {
  const raw = await connectRaw(port);
  try {
    raw.write(commands.map((c) => resp(...c)).join('') + resp('PING'));
    return await raw.readUntil((r) => r.endsWith('+PONG\r\n'), 10_000);
  } finally {
    raw.destroy();
  }
}

/** A count read straight from each master (`read`), summed. */
async function sumOverMasters(read: (node: Redis) => Promise<number>): Promise<number> {
  const counts = await Promise.all((await cluster.masters()).map((m) => read(cluster.node(m.port))));
  return counts.reduce((a, b) => a + b, 0);
}
const commandCalls = (name: string) => async (node: Redis) =>
  Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(await node.info('commandstats'))?.[1] ?? 0);
/** Key lookups that reached a node (keyspace hits + misses), less the PTTL the proxy sends behind each fill, as in redis-server.ts's reads(). */
const lookups = async (node: Redis) => {
  const stats = await node.info('stats');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(stats)![1]);
  return field('keyspace_hits') + field('keyspace_misses') - (await commandCalls('pttl')(node));
};

/** `perMaster` keys named `prefix:<n>` for each master, by its port: keys whose slots it serves. */
async function keysOnEachMaster(prefix: string, perMaster: number): Promise<Map<number, string[]>> {
  const masters = await cluster.masters();
  const byPort = new Map<number, string[]>(masters.map((m) => [m.port, []]));
  for (let i = 0; [...byPort.values()].some((keys) => keys.length < perMaster); i++) {
    const key = `${prefix}:${i}`;
    const keys = byPort.get((await cluster.masterOf(key)).port)!;
    if (keys.length < perMaster) keys.push(key);
  }
  return byPort;
}

const slotOf = async (key: string) => Number(await cluster.node((await cluster.masters())[0]!.port).cluster('KEYSLOT', key));
const serves = (m: LiveNode, slot: number) => m.slots.some(([first, last]) => slot >= first && slot <= last);

if (!EXTERNAL) {
  test.before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    // An hour, and room for every key: within these tests only an invalidation explains a fresh value.
    proxy = await startClusterProxy(cluster, { CACHE_EXPIRY: '3600', CACHE_CAPACITY: '100000' });
    client = new Redis({ port: proxy.respPort, protocol: 2 });
  });
  test.after.always(async () => {
    client?.disconnect();
    await proxy?.close();
    await cluster?.stop();
  });
}

clusterTest.serial(
  '10 000 keys written through the proxy, pipelined, land on the master of their slot; read twice, the second time from the cache',
  async (t) => {
    await cluster.flushAll();
    const keys = Array.from({ length: 10_000 }, (_, i) => `ten:${i}`);
    const value = (key: string) => `value of ${key}`;
    const writes = client.pipeline();
    for (const key of keys) writes.set(key, value(key));
    t.deepEqual(
      await writes.exec(),
      keys.map(() => [null, 'OK']),
    );

    // Read back with a cluster-aware client: each key on a master, all of them there.
    const direct = cluster.client();
    t.deepEqual(await Promise.all(keys.map((key) => direct.get(key))), keys.map(value));
    const masters = await cluster.masters();
    const sizes = await Promise.all(masters.map((m) => cluster.node(m.port).dbsize()));
    t.true(
      sizes.every((n) => n > 2000),
      `spread over the masters: ${sizes.join(', ')}`,
    );
    t.is(
      sizes.reduce((a, b) => a + b),
      10_000,
    );
    // A plain client of a master answers only the keys of its slots (MOVED for the others): each key is where its slot says.
    const sample = keys.filter((_, i) => i % 97 === 0);
    for (const key of sample) {
      const slot = await slotOf(key);
      t.is(await cluster.node(masters.find((m) => serves(m, slot))!.port).get(key), value(key), key);
    }

    const readAll = async () => {
      const reads = client.pipeline();
      for (const key of keys) reads.get(key);
      return (await reads.exec())!.map(([err, v]) => err?.message ?? v);
    };
    const [gets, found] = [await sumOverMasters(commandCalls('get')), await sumOverMasters(lookups)];
    t.deepEqual(await readAll(), keys.map(value));
    t.is((await sumOverMasters(lookups)) - found, 10_000, 'the first read of each key reached its master once');
    const [getsAfterFirst, foundAfterFirst] = [await sumOverMasters(commandCalls('get')), await sumOverMasters(lookups)];
    t.true(getsAfterFirst > gets);
    t.deepEqual(await readAll(), keys.map(value));
    t.is(await sumOverMasters(commandCalls('get')), getsAfterFirst, 'the second reads came from the cache: no GET reached any master');
    t.is(await sumOverMasters(lookups), foundAfterFirst, 'nor any other read of a key');
    // HTTP reads share the cache.
    for (const key of sample) {
      const response = await proxy.http(`/query?key=${encodeURIComponent(key)}`);
      t.is(response.status, 200);
      t.is(await response.text(), value(key));
    }
    t.is((await proxy.http('/query?key=ten:none')).status, 404);
    t.is(await sumOverMasters(commandCalls('get')), getsAfterFirst + 1, 'only the absent key reached a master');
  },
);

/** MGET/MSET/DEL/UNLINK/EXISTS/TOUCH over keys of every master, missing keys and duplicates among them, then reads of what they left. */
const multiKeySequence = (k: (name: string) => string): string[][] => [
  ['MSET', k('a'), '1', k('b'), '2', k('c'), '3', k('d'), '4', k('e'), '5', k('f'), '6'],
  ['MGET', k('f'), k('missing'), k('a'), k('a'), k('c'), k('b'), k('nope'), k('f')],
  ['EXISTS', k('a'), k('missing'), k('a'), k('f'), k('c')],
  ['TOUCH', k('b'), k('missing'), k('b'), k('e')],
  ['DEL', k('a'), k('missing'), k('a'), k('c')],
  ['MGET', k('a'), k('b'), k('c'), k('d')],
  ['UNLINK', k('b'), k('d'), k('b'), k('zzz')],
  ['MGET', k('a'), k('b'), k('c'), k('d'), k('e'), k('f')],
  // Duplicates in MSET: the last one wins, as in one Redis.
  ['MSET', k('a'), 'A', k('g'), 'G', k('a'), 'A2'],
  ['MGET', k('a'), k('g'), k('a')],
  ['RPUSH', k('list'), 'x'],
  // MGET answers nil for a key of another type; EXISTS, DEL and UNLINK count it.
  ['MGET', k('list'), k('e'), k('list')],
  ['EXISTS', k('a'), k('b'), k('c'), k('d'), k('e'), k('f'), k('g'), k('list')],
  ['DEL', k('e'), k('f'), k('g'), k('a'), k('list')],
  ['MGET', k('a'), k('e'), k('g')],
  ['EXISTS', k('e'), k('list')],
  ['MSET', k('odd')],
  ['MGET'],
  ['DEL'],
];

clusterTest.serial(
  'MGET, MSET, DEL, UNLINK, EXISTS and TOUCH across slots answer as one Redis does, in the order of the keys asked, with missing and repeated keys',
  async (t) => {
    const single = await startRedis();
    t.teardown(() => single.close());
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'missing', 'nope', 'zzz', 'list', 'odd'];
    for (const prefix of ['xs', 'xs3']) {
      const k = (name: string) => `${prefix}:${name}`;
      const owners = new Set(await Promise.all(names.map(async (name) => (await cluster.masterOf(k(name))).port)));
      t.is(owners.size, 3, `the keys of ${prefix} are on every master`);
    }

    // RESP2, byte for byte.
    const sequence = multiKeySequence((name) => `xs:${name}`);
    const expected = await exchangeAll(single.port, sequence);
    t.is(await exchangeAll(proxy.respPort, sequence), expected);
    // A sanity check of the reference itself, so that a wrong expectation cannot pass unseen.
    t.true(expected.includes('*8\r\n$1\r\n6\r\n$-1\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n3\r\n$1\r\n2\r\n$-1\r\n$1\r\n6\r\n'), expected);

    // RESP3 (ioredis 6's default), reply by reply, errors by their message.
    const calls = async (port: number) => {
      const resp3 = new Redis({ port, protocol: 3 });
      try {
        const replies: unknown[] = [];
        for (const [name, ...args] of multiKeySequence((n) => `xs3:${n}`))
          replies.push(await resp3.call(name!, ...args).catch((err: Error) => `error: ${err.message}`));
        return replies;
      } finally {
        resp3.disconnect();
      }
    };
    const [fromProxy, fromSingle] = [await calls(proxy.respPort), await calls(single.port)];
    t.deepEqual(fromProxy, fromSingle);
    t.deepEqual(fromSingle[1], ['6', null, '1', '1', '3', '2', null, '6']);

    // And what is left in the cluster is what is left in the single Redis.
    const direct = cluster.client();
    for (const prefix of ['xs', 'xs3']) {
      for (const name of names) {
        const key = `${prefix}:${name}`;
        t.is(await direct.exists(key), await single.client.exists(key), key);
      }
    }
  },
);

/** Two keys in different slots of the same master, and one on another master. */
async function crossSlotKeys(prefix: string): Promise<{ a1: string; a2: string; b: string; node: number }> {
  const masters = await cluster.masters();
  const [home, other] = [masters[0]!, masters[1]!];
  const found: string[] = [];
  let b = '';
  for (let i = 0; found.length < 2 || b === ''; i++) {
    const key = `${prefix}:${i}`;
    const slot = await slotOf(key);
    if (serves(home, slot) && (found.length === 0 || (found.length === 1 && (await slotOf(found[0]!)) !== slot))) found.push(key);
    else if (serves(other, slot) && b === '') b = key;
  }
  return { a1: found[0]!, a2: found[1]!, b, node: home.port };
}

const EXECABORT = '-EXECABORT Transaction discarded because of previous errors.\r\n';

/**
 * Sends `sequence(x, y)` to a cluster node serving both slots of a1 and a2 (so that it answers rather than
 * redirects) and checks its answer is `expected`, then to the proxy for the same two slots and for two on
 * different masters, both ways round: each must answer what the node did. Then none of the keys exists.
 */
async function sameAsClusterNode(t: ExecutionContext, prefix: string, sequence: (x: string, y: string) => string[][], expected: string) {
  const { a1, a2, b, node } = await crossSlotKeys(prefix);
  t.is(await exchangeAll(node, sequence(a1, a2)), expected, 'what Redis Cluster answers');
  for (const [x, y] of [
    [a1, a2],
    [a1, b],
    [b, a1],
  ] as const) {
    t.is(await exchangeAll(proxy.respPort, sequence(x, y)), expected, `${x} (slot ${await slotOf(x)}) and ${y} (slot ${await slotOf(y)})`);
  }
  const direct = cluster.client();
  for (const key of [a1, a2, b]) t.is(await direct.exists(key), 0, `nothing refused wrote ${key}`);
}

// Redis Cluster checks a transaction's slots at EXEC: single-key commands in different slots are each QUEUED,
// and EXEC answers -CROSSSLOT and discards them. (Not -CROSSSLOT at the second command.)
clusterTest.serial('MULTI with single-key commands in two slots: each QUEUED, and EXEC answers CROSSSLOT and runs none, as Redis Cluster does', async (t) => {
  await sameAsClusterNode(
    t,
    'separate',
    (x, y) => [['MULTI'], ['SET', x, '1'], ['SET', y, '2'], ['EXEC'], ['GET', x], ['EXEC']],
    `+OK\r\n+QUEUED\r\n+QUEUED\r\n${CROSSSLOT}$-1\r\n-ERR EXEC without MULTI\r\n+PONG\r\n`,
  );
});

// A multi-key command whose keys span slots is refused as it is queued; the transaction goes on queueing,
// and EXEC answers -EXECABORT.
clusterTest.serial('MULTI with a cross-slot MSET: CROSSSLOT for it, the next command still QUEUED, EXECABORT at EXEC, as Redis Cluster does', async (t) => {
  await sameAsClusterNode(
    t,
    'together',
    (x, y) => [['MULTI'], ['MSET', x, '1', y, '2'], ['GET', x], ['EXEC'], ['GET', x]],
    `+OK\r\n${CROSSSLOT}+QUEUED\r\n${EXECABORT}$-1\r\n+PONG\r\n`,
  );
});

clusterTest.serial('SUNION, SINTERSTORE, RENAME and EVAL over two slots get CROSSSLOT, inside MULTI too, as Redis Cluster answers them', async (t) => {
  await sameAsClusterNode(
    t,
    'alone',
    (x, y) => [
      ['SUNION', x, y],
      ['SINTERSTORE', x, y],
      ['RENAME', x, y],
      ['EVAL', "return redis.call('GET', KEYS[1])", '2', x, y],
      ['MULTI'],
      ['SUNION', x, y],
      ['EXEC'],
    ],
    `${CROSSSLOT.repeat(4)}+OK\r\n${CROSSSLOT}${EXECABORT}+PONG\r\n`,
  );
});

clusterTest.serial(
  'one slot: MULTI over {user1}:a and {user1}:b runs; a script whose keys share a slot runs on the master of that slot, on each master',
  async (t) => {
    const direct = cluster.client();
    t.deepEqual(await client.multi().set('{user1}:a', 'A').set('{user1}:b', 'B').mget('{user1}:a', '{user1}:b').incr('{user1}:n').exec(), [
      [null, 'OK'],
      [null, 'OK'],
      [null, ['A', 'B']],
      [null, 1],
    ]);
    t.deepEqual(await direct.mget('{user1}:a', '{user1}:b'), ['A', 'B']);
    t.deepEqual(await client.sunion('{user1}:s1', '{user1}:s2'), []);

    // {script:N}:x hashes as script:N does: its tag.
    const tags = await keysOnEachMaster('script', 1);
    for (const [port, [tag]] of tags) {
      const [x, y] = [`{${tag!}}:x`, `{${tag!}}:y`];
      t.is((await cluster.masterOf(x)).port, port);
      t.is(await client.eval("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])", 2, x, y, 'from lua'), 1);
      t.is(await cluster.node(port).get(x), 'from lua');
      t.is(await client.get(x), 'from lua');
    }
  },
);

clusterTest.serial('SELECT 1 is refused as Redis Cluster refuses it, SELECT 0 is OK, and the connection stays in database 0', async (t) => {
  const commands = [
    ['SELECT', '1'],
    ['SELECT', '0'],
    ['SELECT', '15'],
    ['SET', 'selected', 'db0'],
    ['GET', 'selected'],
  ];
  const reference = await exchangeAll((await cluster.masters())[0]!.port, commands.slice(0, 3));
  t.is(reference, '-ERR SELECT is not allowed in cluster mode\r\n+OK\r\n-ERR SELECT is not allowed in cluster mode\r\n+PONG\r\n');
  t.is(await exchangeAll(proxy.respPort, commands), `${reference.slice(0, -'+PONG\r\n'.length)}+OK\r\n$3\r\ndb0\r\n+PONG\r\n`);
  t.is(await cluster.client().get('selected'), 'db0');
});

clusterTest.serial('BLPOP through the proxy is answered by an LPUSH through another connection, on every master; SUBSCRIBE gets a PUBLISH', async (t) => {
  const keys = await keysOnEachMaster('queue', 1);
  for (const [port, [key]] of keys) {
    const blocked = new Redis({ port: proxy.respPort, protocol: 2 });
    t.teardown(() => blocked.disconnect());
    const popped = blocked.blpop(key!, 10);
    const blockedOn = async () => Number(/^blocked_clients:(\d+)/m.exec(await cluster.node(port).info('clients'))![1]);
    await eventually(async () => (await blockedOn()) === 1, `a client blocked on ${port}, the master of ${key!}`);
    t.is(await client.lpush(key!, 'job'), 1);
    t.deepEqual(await popped, [key, 'job']);
    t.is(await blockedOn(), 0);
  }

  const subscriber = new Redis({ port: proxy.respPort, protocol: 2 });
  t.teardown(() => subscriber.disconnect());
  const received: [string, string][] = [];
  subscriber.on('message', (channel: string, message: string) => received.push([channel, message]));
  t.is(await subscriber.subscribe('news'), 1);
  // PUBLISH answers how many subscribers the node it ran on has (Redis Cluster carries the message to the
  // others over its bus): 0 or 1 here, whichever master the proxy sent it to.
  const receivers = await client.publish('news', 'hello');
  t.true(receivers === 0 || receivers === 1, String(receivers));
  await eventually(() => Promise.resolve(received.length > 0), 'the message through the subscription');
  t.deepEqual(received, [['news', 'hello']]);
});

clusterTest.serial(
  'a value cached through the proxy and changed or deleted straight on the cluster is seen new within 2 s, for keys on each master',
  async (t) => {
    const keys = await keysOnEachMaster('coherent', 5);
    const direct = cluster.client();
    for (const [port, onMaster] of keys) {
      for (const key of onMaster) {
        await direct.set(key, 'old');
        t.is(await client.get(key), 'old');
        // Cached now: this read does not reach the master.
        const before = await lookups(cluster.node(port));
        t.is(await client.get(key), 'old');
        t.is(await lookups(cluster.node(port)), before, `${key} read from the cache`);
        await direct.set(key, 'new');
        await eventually(async () => (await client.get(key)) === 'new', `${key} on ${port} seen new through the proxy`, 2000);
        await direct.del(key);
        await eventually(async () => (await client.get(key)) === null, `${key} on ${port} seen deleted through the proxy`, 2000);
      }
    }
  },
);

clusterTest.serial(
  'SCAN through the proxy visits every key of every master once (plain, COUNT, MATCH); DBSIZE, KEYS, RANDOMKEY, redis-cli --scan; FLUSHALL and FLUSHDB empty every master',
  async (t) => {
    await cluster.flushAll();
    const keys = Array.from({ length: 10_000 }, (_, i) => `s:${i}`);
    const direct = cluster.client();
    for (let start = 0; start < keys.length; start += 1000) await Promise.all(keys.slice(start, start + 1000).map((key) => direct.set(key, 'v')));
    const sorted = (xs: string[]) => [...xs].sort();

    const scanAll = async (...options: (string | number)[]) => {
      const found: string[] = [];
      let cursor = '0';
      let calls = 0;
      do {
        const [next, batch] = await client.scan(cursor, ...(options as ['COUNT', number]));
        found.push(...batch);
        cursor = next;
        // 10 000 keys in batches of 10 at the least: more calls than that is a cursor going round.
        if (++calls > 5000) throw new Error(`SCAN ${options.join(' ')} did not end after ${calls} calls`);
      } while (cursor !== '0');
      return found;
    };
    for (const options of [[], ['COUNT', 10], ['COUNT', 1000]] as (string | number)[][]) {
      const found = await scanAll(...options);
      t.is(found.length, 10_000, `SCAN ${options.join(' ')}: no key twice`);
      t.deepEqual(sorted(found), sorted(keys), `SCAN ${options.join(' ')}`);
    }
    // s:1, s:10…s:19, s:100…s:199, s:1000…s:1999.
    const ones = keys.filter((key) => key.startsWith('s:1'));
    t.is(ones.length, 1111);
    for (const options of [
      ['MATCH', 's:1*'],
      ['MATCH', 's:1*', 'COUNT', 100],
    ] as (string | number)[][]) {
      const found = await scanAll(...options);
      t.is(found.length, ones.length, `SCAN ${options.join(' ')}: no key twice`);
      t.deepEqual(sorted(found), sorted(ones), `SCAN ${options.join(' ')}`);
    }
    const cli = await run('redis-cli', ['-p', String(proxy.respPort), '--scan', '--pattern', 's:*']);
    t.is(cli.code, 0, cli.stderr);
    t.deepEqual(sorted(cli.stdout.trim().split('\n')), sorted(keys));

    t.is(await client.dbsize(), 10_000);
    const all = await client.keys('*');
    t.is(all.length, 10_000);
    t.deepEqual(sorted(all), sorted(keys));
    t.deepEqual(sorted(await client.keys('s:1*')), sorted(ones));
    const known = new Set(keys);
    for (let i = 0; i < 20; i++) t.true(known.has((await client.randomkey())!));

    // Some of them cached, to see FLUSHALL drop them too.
    t.deepEqual(
      await client.mget(keys.slice(0, 100)),
      keys.slice(0, 100).map(() => 'v'),
    );
    t.is(await client.flushall(), 'OK');
    const masters = await cluster.masters();
    t.deepEqual(await Promise.all(masters.map((m) => cluster.node(m.port).dbsize())), [0, 0, 0]);
    t.is(await client.dbsize(), 0);
    t.deepEqual(await client.keys('*'), []);
    t.is(await client.randomkey(), null);
    // An empty batch with a cursor other than 0 is allowed (SCAN's cursor goes on to the next master): only the end counts.
    t.deepEqual(await scanAll(), []);
    t.deepEqual(
      await client.mget(keys.slice(0, 100)),
      keys.slice(0, 100).map(() => null),
    );

    const more = await keysOnEachMaster('flushdb', 10);
    for (const onMaster of more.values()) for (const key of onMaster) await direct.set(key, 'v');
    t.deepEqual(await Promise.all(masters.map((m) => cluster.node(m.port).dbsize())), [10, 10, 10]);
    t.is(await client.flushdb(), 'OK');
    t.deepEqual(await Promise.all(masters.map((m) => cluster.node(m.port).dbsize())), [0, 0, 0]);
  },
);

clusterTest.serial(
  'SCRIPT LOAD reaches every master, so EVALSHA runs on whichever master its key is; SCRIPT EXISTS is true only where every master has it',
  async (t) => {
    await cluster.flushAll();
    const sha = (await client.script('LOAD', "return redis.call('INCR', KEYS[1])")) as string;
    for (const m of await cluster.masters()) t.deepEqual(await cluster.node(m.port).script('EXISTS', sha), [1], `loaded on ${m.port}`);
    const keys = await keysOnEachMaster('sha', 1);
    for (const [port, [key]] of keys) {
      t.is(await client.evalsha(sha, 1, key!), 1, `EVALSHA on ${port}`);
      t.is(await cluster.node(port).get(key!), '1');
    }
    t.deepEqual(await client.script('EXISTS', sha, 'ffffffffffffffffffffffffffffffffffffffff'), [1, 0]);
    // A script the first master lacks is not there for the cluster.
    const only = (await cluster.node((await cluster.masters())[0]!.port).script('LOAD', 'return 7')) as string;
    t.deepEqual(await client.script('EXISTS', only), [0]);
  },
);

clusterTest.serial('WATCH runs on its key’s master: a write by another client between WATCH and EXEC aborts the transaction, none lets it run', async (t) => {
  await cluster.flushAll();
  const [key, other] = [...(await keysOnEachMaster('watch', 1)).values()].map(([k]) => k!);
  const writer = new Redis({ port: proxy.respPort, protocol: 2 });
  try {
    await client.set(key!, 'a');
    await client.watch(key!);
    await writer.set(key!, 'b');
    t.is(await client.multi().set(key!, 'c').exec(), null, 'aborted: the key changed after WATCH');
    t.is(await client.get(key!), 'b');
    await client.watch(key!);
    t.deepEqual(await client.multi().set(key!, 'd').get(key!).exec(), [
      [null, 'OK'],
      [null, 'd'],
    ]);
    t.is(await cluster.client().get(key!), 'd');
    // A key of another master in the watched transaction: CROSSSLOT at EXEC, as Redis Cluster answers, and nothing written.
    t.is(await exchangeAll(proxy.respPort, [['WATCH', key!], ['MULTI'], ['SET', other!, 'x'], ['EXEC']]), `+OK\r\n+OK\r\n+QUEUED\r\n${CROSSSLOT}+PONG\r\n`);
    t.is(await cluster.client().get(other!), null);
  } finally {
    writer.disconnect();
  }
});

clusterTest.serial(
  'MULTI runs on the node of the first command’s keys, whichever master that is; an empty MULTI/EXEC and DISCARD answer as Redis does',
  async (t) => {
    await cluster.flushAll();
    for (const [port, [key]] of await keysOnEachMaster('multi', 1)) {
      t.deepEqual(await client.multi().incr(key!).incr(key!).get(key!).exec(), [
        [null, 1],
        [null, 2],
        [null, '2'],
      ]);
      t.is(await cluster.node(port).get(key!), '2', `ran on ${port}`);
    }
    t.is(
      await exchangeAll(proxy.respPort, [['MULTI'], ['EXEC'], ['MULTI'], ['DISCARD'], ['MULTI'], ['MULTI'], ['DISCARD']]),
      `+OK\r\n*0\r\n+OK\r\n+OK\r\n+OK\r\n-ERR MULTI calls can not be nested\r\n+OK\r\n+PONG\r\n`,
    );
  },
);

clusterTest.serial("SSUBSCRIBE hears SPUBLISH on its shard channel's master; INFO's Keyspace counts every master's keys", async (t) => {
  await cluster.flushAll();
  const channels = ['{a}news', '{b}news', '{c}news'];
  const subscribers = channels.map(() => new Redis({ port: proxy.respPort, protocol: 2 }));
  try {
    const heard: string[] = [];
    for (const [i, subscriber] of subscribers.entries()) {
      subscriber.on('smessage', (channel: string, message: string) => heard.push(`${channel}=${message}`));
      await subscriber.ssubscribe(channels[i]!);
    }
    // One connection hears one slot's shard channels: another slot's would be another node's.
    await t.throwsAsync(subscribers[0]!.ssubscribe(channels[1]!), { message: /^CROSSSLOT/ });
    for (const channel of channels) t.is(await client.spublish(channel, `hi ${channel}`), 1, channel);
    await eventually(() => Promise.resolve(heard.length === 3), 'three shard messages');
    t.deepEqual(heard.sort(), channels.map((c) => `${c}=hi ${c}`).sort());
  } finally {
    for (const subscriber of subscribers) subscriber.disconnect();
  }
  await client.mset('{a}1', '1', '{b}1', '1', '{c}1', '1', '{c}2', '1');
  t.regex(await client.info('keyspace'), /^db0:keys=4,expires=0,/m);
  t.is(await client.dbsize(), 4);
});
