// The RESP port byte for byte: inline commands, errors in Redis's words, protocol errors, limits, ordering, back-pressure.
import net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { freshKey } from '../helpers/external.ts';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, proxyUnderTest, startProxy, type TestProxy } from '../helpers/proxy-process.ts';
import { connectRaw, exchange } from '../helpers/raw-client.ts';
import { LOCAL_COMMANDS } from '../../src/commands/table.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

let redis: TestRedis;
let proxy: TestProxy;

test.before(async () => {
  redis = await startRedis();
  proxy = await proxyUnderTest(redis);
  await redis.client.set('Batman', 'Superhero');
});
test.after.always(async () => {
  await proxy?.close();
  await redis?.close();
});

const has = (text: string) => (received: string) => received.includes(text);
const lines = (n: number) => (received: string) => received.split('\r\n').length > n;

test('inline commands work as typed into telnet', async (t) => {
  t.is(await exchange(proxy.respAddress, 'PING\r\n', lines(1)), '+PONG\r\n');
  t.is(await exchange(proxy.respAddress, 'GET Batman\n', lines(2)), '$9\r\nSuperhero\r\n');
  t.is(await exchange(proxy.respAddress, 'ECHO "two words"\r\nPING\r\n', lines(3)), '$9\r\ntwo words\r\n+PONG\r\n');
});

test("unknown commands and wrong arity get Redis's wording and the connection stays usable", async (t) => {
  const out = await exchange(proxy.respAddress, 'FROBNICATE now please\r\nGET\r\nGET a b\r\nCLIENT NOPE\r\nPING\r\n', has('+PONG\r\n'));
  t.is(
    out,
    "-ERR unknown command 'FROBNICATE', with args beginning with: 'now' 'please' \r\n" +
      "-ERR wrong number of arguments for 'get' command\r\n" +
      "-ERR wrong number of arguments for 'get' command\r\n" +
      "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n" +
      '+PONG\r\n',
  );
});

test('QUIT answers +OK and closes the connection', async (t) => {
  const client = await connectRaw(proxy.respAddress);
  client.write('PING\r\nQUIT\r\nPING\r\n');
  t.is(await client.closed(), '+PONG\r\n+OK\r\n');
});

/** `bytes` after a PING on one connection get `reply` and close it; a bystander connection is served throughout. */
async function closesOnlyThatConnection(t: ExecutionContext, target: TestProxy, bytes: string, reply: string) {
  const bystander = new Redis(target.respAddress);
  try {
    t.is(await bystander.get('Batman'), 'Superhero');
    const client = await connectRaw(target.respAddress);
    client.write(`PING\r\n${bytes}`);
    t.is(await client.closed(), `+PONG\r\n${reply}`);
    t.is(await bystander.get('Batman'), 'Superhero');
    t.is(await bystander.ping(), 'PONG');
    t.true(await target.running());
  } finally {
    bystander.disconnect();
  }
}

for (const [name, bytes, reply] of [
  ['a malformed frame', '*2\r\n+GET\r\n', "-ERR Protocol error: expected '$', got '+'\r\n"],
  ['an absurd multibulk length', '*99999999999\r\n', '-ERR Protocol error: invalid multibulk length\r\n'],
  ['an absurd bulk length', '*1\r\n$99999999999\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
  ['unbalanced quotes', 'GET "Batman\r\n', '-ERR Protocol error: unbalanced quotes in request\r\n'],
] as const) {
  test(`${name} gets a protocol error, only that connection closes, others keep working`, (t) => closesOnlyThatConnection(t, proxy, bytes, reply));
}

localOnly('starts a proxy with QUERY_BUFFER_LIMIT=4kb')(
  'a request over QUERY_BUFFER_LIMIT gets a protocol error, only that connection closes, others keep working',
  async (t) => {
    const limited = await startProxy({ env: { ...backendEnv(redis), QUERY_BUFFER_LIMIT: '4kb' } });
    t.teardown(() => limited.close());
    const request = `*2\r\n$3\r\nGET\r\n$5000\r\n${'k'.repeat(5000)}\r\n`;
    await closesOnlyThatConnection(t, limited, request, '-ERR Protocol error: request bigger than QUERY_BUFFER_LIMIT (4096 bytes)\r\n');
  },
);

test.serial('pipelined replies leave in request order even when an earlier lookup waits on Redis', async (t) => {
  const slowMiss = freshKey('slow-miss');
  await redis.client.set(slowMiss, 'from-redis');
  const client = await connectRaw(proxy.respAddress);
  try {
    // Redis holds commands for 300 ms: the miss is answered long after the hit and the PING behind it.
    await redis.client.call('CLIENT', 'PAUSE', '300', 'ALL');
    client.write(`GET ${slowMiss}\r\nGET Batman\r\nPING\r\nECHO last\r\n`);
    const out = await client.readUntil(has('last\r\n'));
    t.is(out, '$10\r\nfrom-redis\r\n$9\r\nSuperhero\r\n+PONG\r\n$4\r\nlast\r\n');
  } finally {
    client.destroy();
  }
});

test.serial('a client that half-closes after sending still gets its replies', async (t) => {
  const key = freshKey('half-close');
  await redis.client.set(key, 'still-answered');
  const client = await connectRaw(proxy.respAddress);
  await redis.client.call('CLIENT', 'PAUSE', '200', 'ALL');
  client.write(`GET ${key}\r\n`);
  client.end();
  t.is(await client.closed(), '$14\r\nstill-answered\r\n');
});

test("HELLO switches to RESP3 with Redis's map; bad versions get NOPROTO; RESET returns to RESP2", async (t) => {
  const out = await exchange(proxy.respAddress, 'HELLO 4\r\nHELLO 3\r\nGET nothing-here\r\nRESET\r\nGET nothing-here\r\n', has('RESET\r\n$-1\r\n'));
  t.true(out.startsWith('-NOPROTO unsupported protocol version\r\n%8\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n'), out);
  t.regex(out, /\$5\r\nproto\r\n:3\r\n\$2\r\nid\r\n:\d+\r\n/);
  t.true(out.endsWith('_\r\n+RESET\r\n$-1\r\n'), out);
  const hello2 = await exchange(
    proxy.respAddress,
    'HELLO 2 SETNAME x y\r\nHELLO 2 AUTH bob pw\r\nHELLO 2 AUTH default pw SETNAME app\r\nCLIENT GETNAME\r\n',
    has('$3\r\napp\r\n'),
  );
  t.true(hello2.startsWith("-ERR Syntax error in HELLO option 'y'\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n*16\r\n"), hello2);
});

test('handshake commands clients send: SELECT, CLIENT, COMMAND, CONFIG GET, AUTH', async (t) => {
  const client = new Redis({ ...proxy.respAddress, protocol: 2 });
  try {
    t.is(await client.select(3), 'OK');
    t.is(await client.select(0), 'OK');
    await t.throwsAsync(client.select(16), { message: /^ERR DB index is out of range$/ });
    t.is(await client.client('SETNAME', 'worker-1'), 'OK');
    t.is(await client.client('GETNAME'), 'worker-1');
    t.is(await client.call('CLIENT', 'SETINFO', 'LIB-NAME', 'mylib'), 'OK');
    t.regex((await client.client('LIST')) as string, /name=worker-1 .*lib-name=mylib/);
    t.true(Number(await client.client('ID')) > 0);
    await t.throwsAsync(client.client('SETNAME', 'has space'), { message: /Client names cannot contain spaces/ });
    // CONFIG GET is Redis's own answer: the test Redis's settings, not fixed values (Compose's Redis saves, ours does not).
    t.deepEqual(await client.config('GET', 'save'), await redis.client.config('GET', 'save'));
    t.deepEqual(await client.config('GET', 'appendonly'), await redis.client.config('GET', 'appendonly'));
    // COMMAND is Redis's own table, so clients find every command's keys and flags.
    t.true(Number(await client.command('COUNT')) >= 200);
    const [getInfo] = (await client.command('INFO', 'get')) as unknown[][];
    t.deepEqual(getInfo!.slice(0, 6), ['get', 2, ['readonly', 'fast'], 1, 1, 1]);
    const all = (await client.call('COMMAND')) as unknown[][];
    t.true(all.some((info) => info[0] === 'mget' && info[1] === -2));
    const docs = await client.command('DOCS', 'get');
    t.is(docs[0], 'get');
    await t.throwsAsync(client.call('AUTH', 'secret'), { message: /AUTH <password> called without any password configured/ });
    t.is(await client.call('AUTH', 'default', 'anything'), 'OK');
  } finally {
    client.disconnect();
  }
});

test("every command the proxy answers itself, with any number of arguments, answers in Redis's terms, never an internal error", async (t) => {
  const client = new Redis({ ...proxy.respAddress, protocol: 2 });
  try {
    const names = LOCAL_COMMANDS.flatMap((spec) => [[spec.name], ...(spec.subcommands ?? []).map((sub) => sub.name.split('|'))]);
    t.true(names.length > 20);
    for (const words of names) {
      if (words[0] === 'quit' || words[0] === 'reset' || words[0] === 'hello') continue; // change the connection itself
      for (const extra of [[], ['x'], ['0', 'y'], ['3', 'AUTH', 'z'], ['a', 'b', 'c', 'd']]) {
        const reply = await client.call(words[0]!, ...words.slice(1), ...extra).catch((e: Error) => e);
        if (reply instanceof Error) t.notRegex(reply.message, /internal error/, `${words.join(' ')} ${extra.join(' ')}`);
      }
    }
    t.is(await client.ping(), 'PONG');
  } finally {
    client.disconnect();
  }
});

test("INFO is Redis's own, with the proxy's sections added; INFO cache and INFO proxy answer those alone", async (t) => {
  const client = new Redis(proxy.respAddress);
  try {
    await client.get('Batman');
    const info = await client.info();
    for (const section of ['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'Keyspace', 'Proxy', 'Cache']) {
      t.regex(info, new RegExp(`^# ${section}\r$`, 'm'));
    }
    // Redis's fields, as monitoring tools and client helpers read them.
    const redisInfo = await redis.client.info('server');
    t.regex(info, new RegExp(`^redis_version:${/^redis_version:(\S+)/m.exec(redisInfo)![1]!.replace(/\./g, '\\.')}\r$`, 'm'));
    t.regex(info, /^blocked_clients:\d+\r$/m);
    t.regex(info, /^used_memory:\d+\r$/m);
    t.regex(info, new RegExp(`^db0:keys=${await redis.client.dbsize()},`, 'm'));
    for (const field of ['cache_hits', 'cache_misses', 'cache_coalesced_reads', 'cache_evictions', 'cache_values_too_large', 'cache_bytes', 'backend_errors']) {
      t.regex(info, new RegExp(`^${field}:\\d+\r$`, 'm'));
    }
    t.regex(info, /^cache_max_memory:268435456\r$/m);
    t.regex(info, /^cache_max_value_size:1048576\r$/m);
    const cache = await client.info('cache');
    t.regex(cache, /^# Cache\r$/m);
    t.notRegex(cache, /# Server|# Proxy/);
    const both = await client.info('proxy', 'keyspace');
    t.regex(both, /^# Proxy\r$/m);
    t.regex(both, /^# Keyspace\r$/m);
    t.notRegex(both, /# Server|# Cache/);
    const stats = await client.info('stats');
    t.notRegex(stats, /# Server|cache_hits/);
    t.regex(stats, /^keyspace_hits:\d+\r$/m);
  } finally {
    client.disconnect();
  }
});

localOnly('starts a proxy with MAX_CLIENTS=5').serial(
  'MAX_CLIENTS=5: the sixth connection gets the error and is closed; the first five keep working',
  async (t) => {
    const limited = await startProxy({ env: { ...backendEnv(redis), MAX_CLIENTS: '5' } });
    const clients = Array.from({ length: 5 }, () => new Redis({ port: limited.respPort }));
    try {
      await Promise.all(clients.map((c) => c.ping()));
      const sixth = await connectRaw(limited.respPort);
      t.is(await sixth.closed(), '-ERR max number of clients reached\r\n');
      // A refused client that keeps its own side open is closed all the same.
      const stubborn = net.connect({ port: limited.respPort, host: '127.0.0.1', allowHalfOpen: true });
      stubborn.on('error', () => {});
      let refusal = '';
      stubborn.on('data', (d: Buffer) => (refusal += d.toString('latin1')));
      const closed = new Promise((resolve) => stubborn.once('close', resolve));
      await new Promise((resolve) => stubborn.once('end', resolve));
      t.is(refusal, '-ERR max number of clients reached\r\n');
      // Its socket is gone from the proxy after a moment: what the client writes then is reset.
      await new Promise((r) => setTimeout(r, 1500));
      stubborn.write('PING\r\n');
      setTimeout(() => stubborn.writable && stubborn.write('PING\r\n'), 100);
      await closed;
      t.deepEqual(await Promise.all(clients.map((c) => c.get('Batman'))), Array(5).fill('Superhero'));
      clients[0]!.disconnect();
      await new Promise((r) => setTimeout(r, 100));
      const replacement = await connectRaw(limited.respPort);
      replacement.write('PING\r\n');
      t.is(await replacement.readUntil(has('\r\n')), '+PONG\r\n');
      replacement.destroy();
    } finally {
      clients.forEach((c) => c.disconnect());
      await limited.stop();
    }
  },
);

test.serial('a client that stops reading is not buffered without bound: the proxy stops reading it', async (t) => {
  const big = Buffer.alloc(100 * 1024, 0x61);
  const key = freshKey('big');
  await redis.client.set(key, big);
  const control = new Redis(proxy.respAddress);
  await control.getBuffer(key); // cached: every GET below is answered at once, so only output can hold it back
  const processed = async () => Number(/^total_commands_processed:(\d+)/m.exec(await control.info('proxy'))![1]);
  const socket = net.connect(proxy.respAddress);
  try {
    await new Promise((r) => socket.once('connect', r));
    socket.pause();
    const before = await processed();
    socket.write(`GET ${key}\r\n`.repeat(500)); // 50 MB of replies, far beyond the socket buffers
    await new Promise((r) => setTimeout(r, 500));
    const whileNotReading = (await processed()) - before - 1; // minus the INFO that asks
    t.true(whileNotReading < 500, `processed ${whileNotReading} of 500 while the client was not reading`);
    let received = 0;
    socket.on('data', (d: Buffer) => (received += d.length));
    socket.resume();
    const expected = 500 * (big.length + '$102400\r\n\r\n'.length);
    for (let i = 0; i < 200 && received < expected; i++) await new Promise((r) => setTimeout(r, 50));
    t.is(received, expected, 'every reply arrives once the client reads again');
  } finally {
    socket.destroy();
    control.disconnect();
  }
});

test('garbage on many connections at once closes only those connections', async (t) => {
  const bystander = new Redis(proxy.respAddress);
  try {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const client = await connectRaw(proxy.respAddress);
        client.write(Buffer.from(Array.from({ length: 2000 }, () => Math.floor(random() * 256))));
        client.end();
        await client.closed(10_000).catch(() => client.destroy());
      }),
    );
    t.is(await bystander.get('Batman'), 'Superhero');
    t.true(await proxy.running());
  } finally {
    bystander.disconnect();
  }
});
