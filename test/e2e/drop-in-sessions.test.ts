// Blocking commands, Pub/Sub and MONITOR through the proxy, each on the client's own backend connection; and what happens when that connection or Redis dies.
import { spawn } from 'node:child_process';
import test from 'ava';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { localOnly } from '../helpers/local-only.ts';
import { redisAndProxyUnderTest, startRedisAndProxy, type TestProxy } from '../helpers/proxy-process.ts';
import { connectRaw } from '../helpers/raw-client.ts';
import type { TestRedis } from '../helpers/redis-server.ts';
import { eventually } from '../helpers/eventually.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const proxyField = async (proxy: TestProxy, field: string) => {
  const c = new Redis({ ...proxy.respAddress, protocol: 2 });
  try {
    return Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(await c.info('proxy'))![1]);
  } finally {
    c.disconnect();
  }
};
/** The proxy's own-client connections Redis sees, by CLIENT LIST. */
const sessionConnections = async (redis: TestRedis) =>
  ((await redis.client.client('LIST')) as string).split('\n').filter((l) => l.includes('name=redis-cache-proxy-session')).length;

test('BLPOP is released by an LPUSH from another client, and answers as Redis does', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const blocked = new Redis(proxy.respAddress);
  const pusher = new Redis(proxy.respAddress);
  t.teardown(() => {
    blocked.disconnect();
    pusher.disconnect();
  });
  const popped = blocked.blpop('queue', 0);
  await sleep(100);
  t.is(await pusher.lpush('queue', 'job-1'), 1);
  t.deepEqual(await popped, ['queue', 'job-1']);
  // Timing out: nil, as Redis answers.
  t.is(await blocked.blpop('queue', 0.1), null);
  t.deepEqual(await Promise.all([blocked.brpoplpush('nothing', 'dst', 0.1), blocked.bzpopmin('nozset', 0.1)]), [null, null]);
  t.is(await redis.client.llen('queue'), 0);
});

localOnly("counts the proxy's pinned connections from zero")(
  '50 clients blocked on BLPOP 0 do not delay 50 others reading at full speed; a blocked client that leaves takes its connection with it',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t);
    await redis.client.set('hot', 'value');
    const blocked = Array.from({ length: 50 }, () => new Redis({ port: proxy.respPort, maxRetriesPerRequest: null }));
    t.teardown(() => blocked.forEach((c) => c.disconnect()));
    const pops = blocked.map((c, i) => c.blpop(`block:${i}`, 0).catch((e: Error) => e));
    await eventually(async () => (await sessionConnections(redis)) === 50, '50 blocked sessions');
    t.is(await proxyField(proxy, 'pinned_connections'), 50);

    const readers = Array.from({ length: 50 }, () => new Redis({ port: proxy.respPort }));
    t.teardown(() => readers.forEach((c) => c.disconnect()));
    const values = await Promise.all(
      readers.map(async (c) => {
        const pipeline = c.pipeline();
        for (let i = 0; i < 200; i++) pipeline.get('hot');
        return (await pipeline.exec())!.map(([, v]) => v);
      }),
    );
    t.true(values.every((vs) => vs.length === 200 && vs.every((v) => v === 'value')));

    // One blocked client goes away: its backend connection must go too, so the next element stays.
    blocked[7]!.disconnect();
    await eventually(async () => (await sessionConnections(redis)) === 49, 'the blocked connection to close');
    await redis.client.lpush('block:7', 'nobody-waits');
    await sleep(100);
    t.deepEqual(await redis.client.lrange('block:7', 0, -1), ['nobody-waits']);
    // The others are still blocked and get their element.
    await redis.client.lpush('block:3', 'for-3');
    t.deepEqual(await pops[3], ['block:3', 'for-3']);
  },
);

localOnly('starts a proxy with MAX_PINNED_CONNECTIONS=2')(
  'MAX_PINNED_CONNECTIONS: past it a blocking command gets a clear error; idle ones of other clients make room',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { MAX_PINNED_CONNECTIONS: '2' });
    const [a, b, c] = [0, 1, 2].map(() => new Redis({ port: proxy.respPort, maxRetriesPerRequest: 0 }));
    t.teardown(() => [a, b, c].forEach((x) => x!.disconnect()));
    const pa = a!.blpop('x', 0).catch(() => null);
    const pb = b!.blpop('y', 0).catch(() => null);
    // Both slots taken (a sleep was not enough on a loaded machine: c then got a slot and blocked for ever).
    const blocked = async () => Number(/^blocked_clients:(\d+)/m.exec(await redis.client.info('clients'))![1]);
    await eventually(async () => (await blocked()) === 2, 'a and b blocked in Redis');
    await t.throwsAsync(c!.blpop('z', 0), {
      message: /^ERR too many clients in transactions, blocking commands or Pub\/Sub at once \(MAX_PINNED_CONNECTIONS is 2\)/,
    });
    t.is(await c!.get('x'), null, 'the connection stays usable');
    a!.disconnect();
    await eventually(async () => (await proxyField(proxy, 'pinned_connections')) < 2, "a's slot to be freed");
    t.is(await c!.blpop('z', 0.05), null, 'a slot freed up');
    void pa;
    void pb;
  },
);

test('Pub/Sub: redis-cli, ioredis (RESP2 and RESP3) and node-redis receive messages published on Redis; patterns too; unsubscribing releases the connection', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const received: Record<string, string[]> = { cli: [], io2: [], io3: [], node: [], pattern: [] };

  const cli = spawn('redis-cli', ['-h', proxy.respAddress.host, '-p', String(proxy.respAddress.port), 'SUBSCRIBE', 'news']);
  t.teardown(() => cli.kill());
  cli.stdout.on('data', (d: Buffer) => received.cli!.push(...d.toString().split('\n').filter(Boolean)));

  const io2 = new Redis({ ...proxy.respAddress, protocol: 2 });
  const io3 = new Redis({ ...proxy.respAddress, protocol: 3 });
  const ioPattern = new Redis(proxy.respAddress);
  t.teardown(() => [io2, io3, ioPattern].forEach((c) => c.disconnect()));
  io2.on('message', (ch: string, msg: string) => received.io2!.push(`${ch}:${msg}`));
  io3.on('message', (ch: string, msg: string) => received.io3!.push(`${ch}:${msg}`));
  ioPattern.on('pmessage', (pattern: string, ch: string, msg: string) => received.pattern!.push(`${pattern}:${ch}:${msg}`));
  await io2.subscribe('news');
  await io3.subscribe('news');
  await ioPattern.psubscribe('ne*');

  const node = createClient({ url: `redis://${proxy.respAddress.host}:${proxy.respAddress.port}`, RESP: 3 });
  node.on('error', () => {});
  await node.connect();
  t.teardown(() => node.destroy());
  await node.subscribe('news', (message, channel) => received.node!.push(`${channel}:${message}`));

  await eventually(async () => Number(((await redis.client.call('PUBSUB', 'NUMSUB', 'news')) as [string, number])[1]) === 4, 'four subscribers');
  // Four channel subscribers and one pattern subscriber, as Redis counts them.
  for (const m of ['one', 'two', 'three']) t.is(await redis.client.publish('news', m), 5);
  await eventually(() => Promise.resolve(Object.values(received).every((r) => r.length >= 3 || r === received.cli)), 'messages to arrive');
  t.deepEqual(received.io2, ['news:one', 'news:two', 'news:three']);
  t.deepEqual(received.io3, ['news:one', 'news:two', 'news:three']);
  t.deepEqual(received.node, ['news:one', 'news:two', 'news:three']);
  t.deepEqual(received.pattern, ['ne*:news:one', 'ne*:news:two', 'ne*:news:three']);
  await eventually(() => Promise.resolve(received.cli!.length >= 12), 'redis-cli to print');
  t.deepEqual(received.cli, ['subscribe', 'news', '1', 'message', 'news', 'one', 'message', 'news', 'two', 'message', 'news', 'three']);

  // PING in subscribed mode is Redis's (RESP2: an array).
  t.deepEqual(await io2.ping(), ['pong', '']);
  // Unsubscribing from everything ends the session: the client reads through the cache again.
  const before = await proxyField(proxy, 'pinned_connections');
  await io2.unsubscribe();
  await eventually(async () => (await proxyField(proxy, 'pinned_connections')) === before - 1, 'the connection to be released');
  await redis.client.set('after-sub', 'yes');
  t.is(await io2.get('after-sub'), 'yes');
});

test('MONITOR streams what Redis runs, until the client leaves', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const monitor = await connectRaw(proxy.respAddress);
  t.teardown(() => monitor.destroy());
  monitor.write('MONITOR\r\n');
  await monitor.readUntil((r) => r.startsWith('+OK\r\n'));
  await redis.client.set('watched-by-monitor', '1');
  const seen = await monitor.readUntil((r) => r.includes('"watched-by-monitor"'));
  // [db client-address]: the direct client's address as Redis sees it (another container's in Compose).
  t.regex(seen, /^\+OK\r\n\+\d+\.\d+ \[0 \S+:\d+\] "set" "watched-by-monitor" "1"\r\n/);
  monitor.destroy();
  await eventually(async () => (await sessionConnections(redis)) === 0, 'the MONITOR connection to close');
});

localOnly('stops and restarts Redis')(
  'Redis killed during a MULTI, a BLPOP 0 and a subscription: those clients get errors, the others carry on, and all work again once Redis is back',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '1' });
    await redis.client.set('k', 'v');
    const inMulti = await connectRaw(proxy.respPort);
    const blocked = await connectRaw(proxy.respPort);
    const subscriber = await connectRaw(proxy.respPort);
    t.teardown(() => [inMulti, blocked, subscriber].forEach((c) => c.destroy()));
    inMulti.write('MULTI\r\nSET k changed\r\n');
    await inMulti.readUntil((r) => r === '+OK\r\n+QUEUED\r\n');
    blocked.write('BLPOP q 0\r\n');
    subscriber.write('SUBSCRIBE ch\r\n');
    await subscriber.readUntil((r) => r.endsWith(':1\r\n'));
    await sleep(100);

    await redis.stop();
    // The blocked pop gets an error naming the backend; the subscriber is closed (it reconnects, as after a Redis restart).
    t.regex(await blocked.readUntil((r) => r.endsWith('\r\n')), /^-ERR backend Redis at 127\.0\.0\.1:\d+ is unavailable/);
    await subscriber.closed();
    // The transaction cannot have survived: the client hears so, and EXEC does not run it.
    inMulti.write('EXEC\r\n');
    t.regex(
      await inMulti.readUntil((r) => r.split('\r\n').length > 3),
      /-ERR the backend connection of this session was lost .*; the transaction or watch was aborted\r\n$/,
    );

    await redis.restart();
    await redis.client.set('k', 'v2');
    const fresh = new Redis({ port: proxy.respPort });
    t.teardown(() => fresh.disconnect());
    await eventually(async () => (await fresh.get('k').catch(() => null)) === 'v2', 'reads to work again');
    t.deepEqual(await fresh.multi().set('k', 'v3').get('k').exec(), [
      [null, 'OK'],
      [null, 'v3'],
    ]);
    inMulti.write('GET k\r\n');
    t.regex(await inMulti.readUntil((r) => r.endsWith('$2\r\nv3\r\n')), /\$2\r\nv3\r\n$/, 'the aborted client works again too');
    t.is(await redis.client.get('k'), 'v3');
  },
);

localOnly("counts the proxy's pinned connections from zero")(
  'shard channels (SSUBSCRIBE) and classic ones are counted apart; the session ends only when both are gone',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t);
    const raw = await connectRaw(proxy.respPort);
    t.teardown(() => raw.destroy());
    raw.write('SUBSCRIBE a\r\nSSUBSCRIBE s\r\n');
    await raw.readUntil((r) => r.includes('ssubscribe'));
    await redis.client.call('SPUBLISH', 's', 'sharded');
    await raw.readUntil((r) => r.includes('sharded'));
    raw.write('UNSUBSCRIBE\r\n');
    await raw.readUntil((r) => r.includes('unsubscribe'));
    await sleep(100);
    t.is(await proxyField(proxy, 'pinned_connections'), 1, 'still subscribed to a shard channel');
    raw.write('SUNSUBSCRIBE\r\nGET nothing\r\n');
    const out = await raw.readUntil((r) => r.endsWith('$-1\r\n'));
    t.regex(out, /\*3\r\n\$12\r\nsunsubscribe\r\n\$1\r\ns\r\n:0\r\n\$-1\r\n$/);
    await eventually(async () => (await proxyField(proxy, 'pinned_connections')) === 0, 'the session to end');
  },
);

localOnly('watches Redis with MONITOR')(
  "a client's first blocking command reaches Redis before a command another client sends right after it, in database 0 and another: it takes a connection kept ready",
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t);
    const spares = async () => ((await redis.client.client('LIST')) as string).split('\n').filter((l) => l.includes('name=redis-cache-proxy-spare')).length;
    const monitor = await connectRaw({ host: redis.host, port: redis.port });
    t.teardown(() => monitor.destroy());
    monitor.write('MONITOR\r\n');
    await monitor.readUntil((r) => r.startsWith('+OK\r\n'));
    for (const [db, expectedSpares] of [
      [0, 1],
      [3, 2],
    ] as const) {
      const select = db === 0 ? '' : `SELECT ${db}\r\n`;
      const selected = db === 0 ? '' : '+OK\r\n';
      // A first session of the protocol in the database makes the spare; Redis then lists it under its own name.
      const first = await connectRaw(proxy.respAddress);
      t.teardown(() => first.destroy());
      first.write(`${select}BLPOP warm 0.01\r\n`);
      await first.readUntil((r) => r.endsWith('*-1\r\n'));
      await eventually(async () => (await spares()) === expectedSpares, `a spare connection in db ${db}`);
      await sleep(50);
      const other = await connectRaw(proxy.respAddress);
      t.teardown(() => other.destroy());
      other.write(`${select}PING\r\n`);
      await other.readUntil((r) => r === `${selected}+PONG\r\n`);
      for (let round = 0; round < 3; round++) {
        const list = `list:${db}:${round}`;
        const blocker = await connectRaw(proxy.respAddress);
        t.teardown(() => blocker.destroy());
        // Connected and known to the proxy (as a client connects before it blocks), but no session yet.
        blocker.write(`${select}PING\r\n`);
        await blocker.readUntil((r) => r === `${selected}+PONG\r\n`);
        // In one turn: the new client's first BLPOP, then another client's RPUSH to the same list.
        blocker.write(`BLPOP ${list} 0\r\n`);
        other.write(`RPUSH ${list} pushed\r\n`);
        const seen = await monitor.readUntil((r) => r.includes(`"RPUSH" "${list}"`) && r.includes(`"BLPOP" "${list}"`));
        t.true(seen.indexOf(`"BLPOP" "${list}"`) < seen.indexOf(`"RPUSH" "${list}"`), `db ${db} round ${round}: BLPOP ran first`);
        t.regex(seen, new RegExp(`\\[${db} [^\\]]+\\] "BLPOP" "${list}"`), "in the client's database");
        t.is(await blocker.readUntil((r) => r.endsWith('pushed\r\n')), `${selected}+PONG\r\n*2\r\n$${list.length}\r\n${list}\r\n$6\r\npushed\r\n`);
        await other.readUntil((r) => r.endsWith(':1\r\n'));
        blocker.destroy();
        // The next round's spare: the one taken was replaced (listed by Redis once named; ready a moment later).
        await eventually(async () => (await spares()) === expectedSpares, 'a spare connection again');
        await sleep(50);
      }
    }
  },
);
