// Real Redis clients against the RESP port: redis-cli, ioredis (RESP3 and RESP2), pipelines, binary data, redis-benchmark.
import test from 'ava';
import { Redis } from 'ioredis';
import { freshKey } from '../helpers/external.ts';
import { proxyUnderTest, type TestProxy } from '../helpers/proxy-process.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { connectRaw, type RawClient } from '../helpers/raw-client.ts';
import { requireTool, run } from '../helpers/tools.ts';

let redis: TestRedis;
let proxy: TestProxy;

test.before(async () => {
  requireTool('redis-cli');
  requireTool('redis-benchmark');
  redis = await startRedis();
  proxy = await proxyUnderTest(redis);
  await redis.client.set('Batman', 'Superhero');
});
test.after.always(async () => {
  await proxy?.close();
  await redis?.close();
});

/** -h and -p for redis-cli and redis-benchmark. */
const at = () => ['-h', proxy.respAddress.host, '-p', String(proxy.respAddress.port)];
const cli = (args: string[], input = '') => run('redis-cli', [...at(), ...args], input);

test.serial("redis-cli: GET, PING, --raw, writes, and unknown commands in Redis's words", async (t) => {
  t.is((await cli(['GET', 'Batman'])).stdout, 'Superhero\n');
  t.is((await cli(['PING'])).stdout, 'PONG\n');
  t.is((await cli(['--raw', 'GET', 'Batman'])).stdout, 'Superhero\n');
  t.is((await cli(['--no-raw', 'GET', 'nothing-here'])).stdout, '(nil)\n');
  t.is((await cli(['--raw', 'MGET', 'Batman', 'nothing-here', 'Batman'])).stdout, 'Superhero\n\nSuperhero\n');
  t.is((await cli(['SET', 'Robin', 'Sidekick'])).stdout, 'OK\n');
  t.is((await cli(['GET', 'Robin'])).stdout, 'Sidekick\n');
  t.is(await redis.client.get('Robin'), 'Sidekick', 'the write reached Redis');
  const unknown = await cli(['FROBNICATE', 'Batman', 'Joker']);
  t.is(unknown.stdout.trim(), "ERR unknown command 'FROBNICATE', with args beginning with: 'Batman' 'Joker'");
});

test.serial('redis-cli: a session piped on stdin runs every command in order on one connection', async (t) => {
  const session = [
    'PING',
    'GET Batman',
    'CLIENT SETNAME cli-session',
    'CLIENT GETNAME',
    'GET',
    'ECHO "two words"',
    'SELECT 1',
    'GET Batman',
    'SELECT 16',
    'SELECT 0',
    'GET Batman',
    'INFO keyspace',
  ].join('\n');
  const { stdout, code } = await cli([], `${session}\n`);
  t.is(code, 0);
  // redis-cli prints a blank line after an error reply, as it does against Redis itself.
  const lines = stdout.split('\n').filter((l) => l !== '');
  t.deepEqual(
    lines.slice(0, 10),
    [
      'PONG',
      'Superhero',
      'OK',
      'cli-session',
      "ERR wrong number of arguments for 'get' command",
      'two words',
      'OK',
      '',
      'ERR DB index is out of range',
      'OK',
      'Superhero',
    ].filter((l) => l !== ''),
  );
  // Redis's own keyspace, not the cache's.
  const keys = await redis.client.dbsize();
  t.regex(stdout, new RegExp(`# Keyspace\r?\ndb0:keys=${keys},expires=\\d+`));
});

test.serial('redis-cli -3 speaks RESP3 after HELLO', async (t) => {
  const { stdout } = await cli(['-3', '--no-raw', 'HELLO', '3']);
  t.regex(stdout, /1# "server" => "redis"/);
  t.regex(stdout, /3# "proto" => \(integer\) 3/);
  t.is((await cli(['-3', '--no-raw', 'GET', 'nothing-here'])).stdout, '(nil)\n');
});

test.serial('ioredis with its defaults (HELLO 3, CLIENT SETINFO, INFO ready check) connects and reads', async (t) => {
  const client = new Redis({ ...proxy.respAddress, connectionName: 'ioredis-test' });
  try {
    t.is(await client.get('Batman'), 'Superhero');
    t.deepEqual(await client.mget('Batman', 'nothing-here'), ['Superhero', null]);
    t.is(await client.get('nothing-here'), null);
    const info = await client.client('INFO');
    t.regex(info, /resp=3/);
    t.regex(info, /lib-name=ioredis/);
    t.regex(info, /name=ioredis-test/);
  } finally {
    client.disconnect();
  }
});

test.serial('ioredis with protocol 2 connects and reads', async (t) => {
  const client = new Redis({ ...proxy.respAddress, protocol: 2 });
  try {
    t.is(await client.get('Batman'), 'Superhero');
    t.regex(await client.client('INFO'), /resp=2/);
  } finally {
    client.disconnect();
  }
});

test.serial('a pipeline of 300 GETs mixing cached, uncached and absent keys returns every value in order', async (t) => {
  const keys = Array.from({ length: 300 }, (_, i) => freshKey(`pipe:${i}`));
  // Thirds: present and already cached, present but not cached yet, absent from Redis.
  const present = keys.filter((_, i) => i % 3 !== 2);
  await redis.client.mset(Object.fromEntries(present.map((k) => [k, `value-${k}`])));
  const client = new Redis(proxy.respAddress);
  try {
    for (const k of keys.filter((_, i) => i % 3 === 0)) await client.get(k);
    const before = await redis.reads();
    const pipeline = client.pipeline();
    for (const k of keys) pipeline.get(k);
    const results = await pipeline.exec();
    t.deepEqual(
      results!.map(([err, value]) => err ?? value),
      keys.map((k, i) => (i % 3 === 2 ? null : `value-${k}`)),
    );
    t.is((await redis.reads()) - before, 200, 'only the uncached keys reached Redis');
  } finally {
    client.disconnect();
  }
});

test.serial('binary keys and values (NUL, CR, LF, 0xFF, 10 KB) come back byte for byte', async (t) => {
  const pairs: [Buffer, Buffer][] = [
    [Buffer.from([0x00, 0x0d, 0x0a, 0xff]), Buffer.from([0xff, 0x00, 0x0d, 0x0a, 0x24, 0x2a])],
    [Buffer.from('key\r\nGET x\r\n'), Buffer.alloc(10 * 1024, 0xff)],
    [Buffer.from('empty'), Buffer.alloc(0)],
    [Buffer.alloc(0), Buffer.from('the empty key')],
  ];
  for (const [k, v] of pairs) await redis.client.set(k, v);
  for (const protocol of [2, 3] as const) {
    const client = new Redis({ ...proxy.respAddress, protocol });
    try {
      for (const [k, v] of pairs) {
        t.deepEqual(await client.getBuffer(k), v);
        t.deepEqual(await client.getBuffer(k), v, 'and again from the cache');
      }
      t.deepEqual(
        await client.mgetBuffer(...pairs.map(([k]) => k)),
        pairs.map(([, v]) => v),
      );
    } finally {
      client.disconnect();
    }
  }
});

test.serial('redis-benchmark -t ping,get -P 16 runs to the end with no error replies', async (t) => {
  await redis.client.set('key:__rand_int__', 'x');
  const { code, stdout, stderr } = await run('redis-benchmark', [...at(), '-t', 'ping,get', '-P', '16', '-n', '20000', '-c', '20', '-q']);
  t.is(code, 0, stderr);
  t.regex(stdout, /PING_INLINE: [\d.]+ requests per second/);
  t.regex(stdout, /PING_MBULK: [\d.]+ requests per second/);
  t.regex(stdout, /GET: [\d.]+ requests per second/);
  t.notRegex(`${stdout}${stderr}`, /ERR|Error|error/);
});

/** The field names of a CLIENT LIST / CLIENT INFO line, in order. */
const fieldNames = (line: string) =>
  line
    .trim()
    .split(' ')
    .map((f) => f.slice(0, f.indexOf('=')));

test.serial("CLIENT LIST and CLIENT INFO have Redis's fields in Redis's order; CLIENT LIST TYPE and ID filter as Redis does", async (t) => {
  const a = new Redis({ ...proxy.respAddress, connectionName: 'lister' });
  const b = new Redis({ ...proxy.respAddress, connectionName: 'listener' });
  t.teardown(() => {
    a.disconnect();
    b.disconnect();
  });
  await b.subscribe('news');
  const redisLine = await redis.client.client('INFO');
  const proxyLine = await a.client('INFO');
  // Redis 7.0 has no lib-name/lib-ver (7.2 added them last); everything before them matches one for one.
  const redisFields = fieldNames(redisLine).filter((f) => f !== 'lib-name' && f !== 'lib-ver');
  t.deepEqual(fieldNames(proxyLine).slice(0, redisFields.length), redisFields);
  t.regex(proxyLine, / fd=-1 .* flags=N .* qbuf-free=0 .* events=r cmd=client\|info /);

  const ids = Object.fromEntries(
    ((await a.client('LIST')) as string)
      .trim()
      .split('\n')
      .map((l) => [/name=(\S*)/.exec(l)![1], Number(/^id=(\d+)/.exec(l)![1])]),
  ) as Record<string, number>;
  const names = (text: unknown) =>
    String(text)
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => /name=(\S*)/.exec(l)![1]);
  t.deepEqual(names(await a.call('CLIENT', 'LIST', 'TYPE', 'pubsub')), ['listener']);
  t.true(names(await a.call('CLIENT', 'LIST', 'TYPE', 'normal')).includes('lister'));
  t.false(names(await a.call('CLIENT', 'LIST', 'TYPE', 'normal')).includes('listener'));
  t.deepEqual(names(await a.call('CLIENT', 'LIST', 'TYPE', 'replica')), []);
  t.deepEqual(names(await a.call('CLIENT', 'LIST', 'ID', String(ids.listener), '999999', String(ids.lister))), ['listener', 'lister']);
  t.regex(String(await a.call('CLIENT', 'LIST', 'ID', String(ids.lister))), /flags=N/);
  t.regex(String(await a.call('CLIENT', 'LIST', 'ID', String(ids.listener))), /flags=P .* sub=1 /);
  t.is(String(await a.call('CLIENT', 'LIST', 'TYPE', 'bogus').catch((e: Error) => e.message)), "ERR Unknown client type 'bogus'");
  t.is(String(await a.call('CLIENT', 'LIST', 'ID', 'x').catch((e: Error) => e.message)), 'ERR Invalid client ID');
  t.is(String(await a.call('CLIENT', 'LIST', 'EXTRA').catch((e: Error) => e.message)), 'ERR syntax error');
});

test.serial("CLIENT KILL closes the proxy's own clients by ID, ADDR, LADDR, TYPE, USER and SKIPME, as Redis 7.0 answers it", async (t) => {
  const killer = new Redis(proxy.respAddress);
  t.teardown(() => killer.disconnect());
  const idOf = async (raw: RawClient) => {
    raw.write('CLIENT ID\r\n');
    return Number(/^:(\d+)\r\n/.exec(await raw.readUntil((r) => r.endsWith('\r\n')))![1]);
  };
  const byId = await connectRaw(proxy.respAddress);
  const byAddr = await connectRaw(proxy.respAddress);
  const subscriber = await connectRaw(proxy.respAddress);
  t.teardown(() => [byId, byAddr, subscriber].forEach((c) => c.destroy()));
  const id = await idOf(byId);
  byAddr.write('CLIENT INFO\r\n');
  const addr = /addr=(\S+)/.exec(await byAddr.readUntil((r) => r.includes('\n', r.indexOf('\r\n') + 2)))![1]!;
  subscriber.write('SUBSCRIBE news\r\n');
  await subscriber.readUntil((r) => r.includes(':1\r\n'));
  const backendConnections = (await redis.client.client('LIST')) as string;

  t.is(await killer.call('CLIENT', 'KILL', 'ID', String(id)), 1);
  await t.notThrowsAsync(byId.closed(), 'killed by ID');
  t.is(await killer.call('CLIENT', 'KILL', addr), 'OK', 'the old form');
  await t.notThrowsAsync(byAddr.closed());
  t.is(await killer.call('CLIENT', 'KILL', 'TYPE', 'pubsub', 'USER', 'default'), 1);
  await t.notThrowsAsync(subscriber.closed());
  t.is(await killer.call('CLIENT', 'KILL', 'ID', String(id)), 0, 'gone already');
  t.is(await killer.call('CLIENT', 'KILL', 'TYPE', 'normal'), 0, 'SKIPME yes by default: not itself');
  t.is(await killer.ping(), 'PONG');

  const error = (args: string[]) => killer.call('CLIENT', 'KILL', ...args).catch((e: Error) => e.message);
  t.is(await error(['127.0.0.1:1']), 'ERR No such client');
  t.is(await error(['ID', '0']), 'ERR client-id should be greater than 0');
  t.is(await error(['TYPE', 'bogus']), "ERR Unknown client type 'bogus'");
  t.is(await error(['USER', 'bob']), "ERR No such user 'bob'");
  t.is(await error(['SKIPME', 'maybe']), 'ERR syntax error');
  t.is(await error(['ID']), 'ERR No such client', 'two words are the old form: an address');
  t.is(await error(['ID', '5', 'TYPE']), 'ERR syntax error');
  t.is(String(await killer.call('CLIENT', 'KILL').catch((e: Error) => e.message)), "ERR wrong number of arguments for 'client|kill' command");
  // Redis's own clients (the proxy's backend connections) are never touched; but a subscriber's own connection closed with it.
  const after = (await redis.client.client('LIST')) as string;
  t.is(
    after.split('\n').filter((l) => l.includes('name=redis-cache-proxy ')).length,
    backendConnections.split('\n').filter((l) => l.includes('name=redis-cache-proxy ')).length,
  );

  // Killing itself (SKIPME no): its reply comes, then the connection closes.
  const self = await connectRaw(proxy.respAddress);
  t.teardown(() => self.destroy());
  const selfId = await idOf(self);
  self.write(`CLIENT KILL ID ${selfId} SKIPME no\r\n`);
  t.is(await self.closed(), `:${selfId}\r\n:1\r\n`, 'its reply, then the close');
});
