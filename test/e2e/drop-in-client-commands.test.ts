// CLIENT UNBLOCK and CLIENT REPLY through the proxy: the client ids are the proxy's, the replies and their silences are Redis's.
import test from 'ava';
import { Redis } from 'ioredis';
import { redisAndProxyUnderTest, type TestProxy } from '../helpers/proxy-process.ts';
import { connectRaw, type RawClient } from '../helpers/raw-client.ts';
import type { TestRedis } from '../helpers/redis-server.ts';
import { eventually } from '../helpers/eventually.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cmd = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Everything received once it ends with `tail`, and nothing more (a PING sent after proves nothing else was owed). */
async function exactly(client: RawClient, tail: string): Promise<string> {
  return client.readUntil((r) => r.endsWith(tail));
}

/** A raw client and its proxy id (CLIENT ID), the bytes received so far cleared by the caller's offsets. */
async function rawWithId(proxy: TestProxy): Promise<{ raw: RawClient; id: number; offset: number }> {
  const raw = await connectRaw(proxy.respAddress);
  raw.write(cmd('CLIENT', 'ID'));
  const got = await raw.readUntil((r) => r.endsWith('\r\n'));
  return { raw, id: Number(/^:(\d+)\r\n$/.exec(got)![1]), offset: got.length };
}

const blockedInRedis = async (redis: TestRedis) => Number(/blocked_clients:(\d+)/.exec(await redis.client.info('clients'))![1]);

/** Blocks `raw` with `command`, waits until Redis counts it blocked and the proxy flags it `b`, unblocks it by its proxy id. */
async function unblockAfter(redis: TestRedis, admin: Redis, id: number, raw: RawClient, command: string, reason?: string) {
  raw.write(command);
  await eventually(async () => (await blockedInRedis(redis)) === 1, 'the command blocking in Redis');
  const line = ((await admin.client('LIST')) as string).split('\n').find((l) => l.startsWith(`id=${id} `))!;
  if (!/ flags=b /.test(line)) throw new Error(`not flagged blocked: ${line}`);
  const answer = await (reason === undefined ? admin.call('CLIENT', 'UNBLOCK', String(id)) : admin.call('CLIENT', 'UNBLOCK', String(id), reason));
  await eventually(async () => (await blockedInRedis(redis)) === 0, 'Redis unblocking it');
  return answer;
}

test('CLIENT UNBLOCK TIMEOUT and ERROR release BLPOP, BZPOPMIN, XREAD BLOCK, BLMPOP and WAIT with what Redis answers; nothing pushed later is lost', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const admin = new Redis({ ...proxy.respAddress, protocol: 2 });
  const { raw, id, offset } = await rawWithId(proxy);
  t.teardown(() => {
    admin.disconnect();
    raw.destroy();
  });
  // Ids are the proxy's: CLIENT ID and CLIENT LIST agree.
  const adminId = Number(await admin.call('CLIENT', 'ID'));
  t.not(adminId, id);
  const list = (await admin.client('LIST')) as string;
  t.regex(list, new RegExp(`^id=${id} .* cmd=client `, 'm'));
  t.regex(list, new RegExp(`^id=${adminId} .* cmd=client\\|list `, 'm'));
  const cases: [command: string, reason: string | undefined, reply: string][] = [
    [cmd('BLPOP', 'q', '0'), undefined, '*-1\r\n'],
    [cmd('BLPOP', 'q', '0'), 'TIMEOUT', '*-1\r\n'],
    [cmd('BLPOP', 'q', '0'), 'error', '-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n'],
    [cmd('BZPOPMIN', 'z', '0'), 'TIMEOUT', '*-1\r\n'],
    [cmd('BZPOPMIN', 'z', '0'), 'ERROR', '-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n'],
    [cmd('XREAD', 'BLOCK', '0', 'STREAMS', 's', '$'), 'TIMEOUT', '*-1\r\n'],
    [cmd('XREAD', 'BLOCK', '0', 'STREAMS', 's', '$'), 'ERROR', '-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n'],
    [cmd('BLMPOP', '0', '1', 'q', 'LEFT'), 'TIMEOUT', '*-1\r\n'],
    // WAIT times out with the number of replicas that acknowledged: none here.
    [cmd('WAIT', '1', '0'), 'TIMEOUT', ':0\r\n'],
    [cmd('WAIT', '1', '0'), 'ERROR', '-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n'],
  ];
  let seen = offset;
  for (const [command, reason, reply] of cases) {
    t.is(await unblockAfter(redis, admin, id, raw, command, reason), 1, `${command.replace(/\r\n/g, ' ')} ${reason}`);
    const got = await raw.readUntil((r) => r.length >= seen + reply.length);
    t.is(got.slice(seen), reply, `${command.replace(/\r\n/g, ' ')} ${reason}`);
    seen = got.length;
    // The session ended as after a timeout: the client is not blocked any more.
    t.is(await admin.call('CLIENT', 'UNBLOCK', String(id)), 0);
  }
  // No ghost pop left in Redis: what is pushed now stays, and the next BLPOP of the same client gets it.
  t.is(await admin.lpush('q', 'first'), 1);
  await sleep(50);
  t.is(await redis.client.llen('q'), 1);
  raw.write(cmd('BLPOP', 'q', '0'));
  const popped = '*2\r\n$1\r\nq\r\n$5\r\nfirst\r\n';
  t.is((await raw.readUntil((r) => r.length >= seen + popped.length)).slice(seen), popped);
  seen += popped.length;
  raw.write(cmd('BLPOP', 'q', '0'));
  await eventually(async () => (await blockedInRedis(redis)) === 1, 'the second BLPOP blocking');
  t.is(await admin.lpush('q', 'second'), 1);
  const second = '*2\r\n$1\r\nq\r\n$6\r\nsecond\r\n';
  t.is((await raw.readUntil((r) => r.length >= seen + second.length)).slice(seen), second);
  t.is(await redis.client.llen('q'), 0);
});

test('CLIENT UNBLOCK in RESP3 answers null; unknown ids, clients not blocked and bad arguments answer as Redis does', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const admin = new Redis({ ...proxy.respAddress, protocol: 2 });
  const idle = new Redis({ ...proxy.respAddress, protocol: 2 });
  const { raw, id, offset } = await rawWithId(proxy);
  t.teardown(() => {
    admin.disconnect();
    idle.disconnect();
    raw.destroy();
  });
  const idleId = Number(await idle.call('CLIENT', 'ID'));
  t.is(await admin.call('CLIENT', 'UNBLOCK', '999999'), 0);
  t.is(await admin.call('CLIENT', 'UNBLOCK', String(idleId), 'ERROR'), 0);
  // Inside a transaction (not blocked, though its session is open): 0 too.
  await idle.watch('w');
  t.is(await admin.call('CLIENT', 'UNBLOCK', String(idleId)), 0);
  await idle.unwatch();
  await t.throwsAsync(admin.call('CLIENT', 'UNBLOCK', 'abc'), { message: 'ERR value is not an integer or out of range' });
  await t.throwsAsync(admin.call('CLIENT', 'UNBLOCK', String(id), 'later'), { message: 'ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR' });
  await t.throwsAsync(admin.call('CLIENT', 'UNBLOCK', String(id), 'ERROR', 'x'), {
    message: "ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.",
  });
  await t.throwsAsync(admin.call('CLIENT', 'UNBLOCK'), { message: "ERR wrong number of arguments for 'client|unblock' command" });

  raw.write(cmd('HELLO', '3'));
  const seen = (await raw.readUntil((r) => r.length > offset && /redis-cache-proxy [^\r]*\r\n$/.test(r))).length;
  t.is(await unblockAfter(redis, admin, id, raw, cmd('BLPOP', 'q', '0'), 'TIMEOUT'), 1);
  t.is((await raw.readUntil((r) => r.length >= seen + 3)).slice(seen), '_\r\n');
});

test('CLIENT REPLY OFF silences every reply, its own included, until ON; the commands still run, hits and misses alike', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  await redis.client.set('cached', 'c1');
  const raw = await connectRaw(proxy.respAddress);
  t.teardown(() => raw.destroy());
  // Warm the cache: the GET below is a hit.
  raw.write(cmd('GET', 'cached'));
  await exactly(raw, '$2\r\nc1\r\n');
  raw.write(
    cmd('CLIENT', 'REPLY', 'OFF') +
      cmd('SET', 'a', '1') +
      'GET cached\r\n' + // inline: the decoder's fast path
      cmd('GET', 'a') + // a miss after a write: in order behind it
      cmd('INCR', 'a') +
      cmd('MGET', 'a', 'cached', 'nope') +
      cmd('LPUSH', 'l', 'x') +
      cmd('LRANGE', 'l', '0', '-1') +
      cmd('NOSUCHCOMMAND') +
      cmd('CLIENT', 'REPLY', 'OFF') +
      cmd('CLIENT', 'REPLY', 'SKIP') +
      cmd('CLIENT', 'REPLY', 'ON') +
      cmd('GET', 'a'),
  );
  t.is(await exactly(raw, '$1\r\n2\r\n'), '$2\r\nc1\r\n+OK\r\n$1\r\n2\r\n');
  raw.write(cmd('PING', 'end'));
  t.is(await exactly(raw, '$3\r\nend\r\n'), '$2\r\nc1\r\n+OK\r\n$1\r\n2\r\n$3\r\nend\r\n');
  t.is(await redis.client.get('a'), '2');
  t.deepEqual(await redis.client.lrange('l', 0, -1), ['x']);
});

test('CLIENT REPLY SKIP silences exactly its own reply and the next command’s, in a pipeline of hits, misses and writes', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  await redis.client.mset('k1', 'v1', 'k2', 'v2');
  const raw = await connectRaw(proxy.respAddress);
  t.teardown(() => raw.destroy());
  raw.write(cmd('GET', 'k1'));
  await exactly(raw, '$2\r\nv1\r\n');
  raw.write(
    cmd('CLIENT', 'REPLY', 'SKIP') +
      'GET k1\r\n' + // a hit, skipped
      cmd('GET', 'k2') + // a miss, answered
      cmd('CLIENT', 'REPLY', 'SKIP') +
      cmd('SET', 'k3', 'v3') + // a write, skipped
      cmd('GET', 'k3') +
      cmd('CLIENT', 'REPLY', 'SKIP') +
      cmd('CLIENT', 'REPLY', 'ON') + // ON clears a SKIP: its +OK is written
      cmd('PING', 'end'),
  );
  t.is(await exactly(raw, '$3\r\nend\r\n'), '$2\r\nv1\r\n$2\r\nv2\r\n$2\r\nv3\r\n+OK\r\n$3\r\nend\r\n');
  t.is(await redis.client.get('k3'), 'v3');
  // RESET ends OFF (as Redis's does) and answers.
  raw.write(cmd('CLIENT', 'REPLY', 'OFF') + cmd('SET', 'k4', 'x') + cmd('RESET') + cmd('PING', 'again'));
  t.true((await exactly(raw, '$5\r\nagain\r\n')).endsWith('$3\r\nend\r\n+RESET\r\n$5\r\nagain\r\n'));
  t.is(await redis.client.get('k4'), 'x');
  // Bad mode: Redis's syntax error; QUIT with replies off closes without a word.
  raw.write(cmd('CLIENT', 'REPLY', 'LOUD') + cmd('CLIENT', 'REPLY', 'OFF') + cmd('SET', 'k5', 'y') + cmd('QUIT'));
  t.true((await raw.closed()).endsWith('$5\r\nagain\r\n-ERR syntax error\r\n'));
  t.is(await redis.client.get('k5'), 'y');
});

test('CLIENT REPLY OFF inside transactions: commands and EXEC silenced; CLIENT REPLY inside MULTI is refused and aborts EXEC', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const raw = await connectRaw(proxy.respAddress);
  t.teardown(() => raw.destroy());
  raw.write(cmd('CLIENT', 'REPLY', 'OFF') + cmd('MULTI') + cmd('SET', 't', '1') + cmd('INCR', 't') + cmd('EXEC') + cmd('CLIENT', 'REPLY', 'ON'));
  t.is(await exactly(raw, '+OK\r\n'), '+OK\r\n');
  t.is(await redis.client.get('t'), '2');
  raw.write(cmd('MULTI') + cmd('CLIENT', 'REPLY', 'OFF') + cmd('EXEC') + cmd('PING', 'end'));
  t.is(
    await exactly(raw, '$3\r\nend\r\n'),
    '+OK\r\n+OK\r\n-ERR CLIENT REPLY inside MULTI is not supported through redis-cache-proxy; send CLIENT REPLY before MULTI or after EXEC\r\n' +
      '-EXECABORT Transaction discarded because of previous errors.\r\n$3\r\nend\r\n',
  );
});

for (const protocol of [2, 3] as const) {
  test(`Pub/Sub with CLIENT REPLY OFF (RESP${protocol}): confirmations and messages arrive, command replies do not, ON answers in order`, async (t) => {
    const { redis, proxy } = await redisAndProxyUnderTest(t);
    const raw = await connectRaw(proxy.respAddress);
    t.teardown(() => raw.destroy());
    const arr = protocol === 3 ? '>' : '*';
    let seen = 0;
    const next = async (expected: string) => {
      const got = await raw.readUntil((r) => r.length >= seen + expected.length);
      t.is(got.slice(seen), expected);
      seen = got.length;
    };
    if (protocol === 3) {
      raw.write(cmd('HELLO', '3'));
      seen = (await raw.readUntil((r) => /redis-cache-proxy [^\r]*\r\n$/.test(r))).length;
    }
    raw.write(cmd('CLIENT', 'REPLY', 'OFF') + cmd('SUBSCRIBE', 'channel') + cmd('PSUBSCRIBE', 'ch*'));
    await next(`${arr}3\r\n$9\r\nsubscribe\r\n$7\r\nchannel\r\n:1\r\n${arr}3\r\n$10\r\npsubscribe\r\n$3\r\nch*\r\n:2\r\n`);
    // Replies off again while subscribed (Redis's own test does it): a RESP2 subscriber is refused, silently.
    raw.write(cmd('CLIENT', 'REPLY', 'OFF') + cmd('PING'));
    t.is(await redis.client.publish('channel', 'hello'), 2);
    await next(`${arr}3\r\n$7\r\nmessage\r\n$7\r\nchannel\r\n$5\r\nhello\r\n${arr}4\r\n$8\r\npmessage\r\n$3\r\nch*\r\n$7\r\nchannel\r\n$5\r\nhello\r\n`);
    // ON answers after the confirmation sent before it, as Redis orders them.
    raw.write(cmd('UNSUBSCRIBE', 'channel') + cmd('CLIENT', 'REPLY', 'ON') + cmd('PING'));
    const on =
      protocol === 3
        ? '+OK\r\n+PONG\r\n'
        : "-ERR Can't execute 'client|reply': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    // RESP2: still off (CLIENT REPLY was refused, and that refusal silenced), so neither answer shows.
    await next(`${arr}3\r\n$11\r\nunsubscribe\r\n$7\r\nchannel\r\n:1\r\n${protocol === 3 ? on : ''}`);
    // Out of the subscription (the proxy knows once the last confirmation came): ON as anywhere.
    raw.write(cmd('PUNSUBSCRIBE', 'ch*'));
    await next(`${arr}3\r\n$12\r\npunsubscribe\r\n$3\r\nch*\r\n:0\r\n`);
    raw.write(cmd('CLIENT', 'REPLY', 'ON') + cmd('PING', 'end'));
    await next(`+OK\r\n$3\r\nend\r\n`);
  });
}

test('CLIENT REPLY SKIP and OFF in a RESP3 subscription: each command’s reply in the stream gets the mode in force when it was sent', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  await redis.client.set('k', 'value');
  const raw = await connectRaw(proxy.respAddress);
  t.teardown(() => raw.destroy());
  raw.write(cmd('HELLO', '3'));
  const seen = (await raw.readUntil((r) => /redis-cache-proxy [^\r]*\r\n$/.test(r))).length;
  raw.write(
    cmd('SUBSCRIBE', 'ch') +
      cmd('CLIENT', 'REPLY', 'SKIP') +
      cmd('PING', 'a') + // skipped
      cmd('PING', 'b') +
      cmd('GET', 'k') +
      cmd('CLIENT', 'REPLY', 'OFF') +
      cmd('PING', 'c') + // silenced
      cmd('CLIENT', 'REPLY', 'ON') +
      cmd('PING', 'd'),
  );
  const expected = '>3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n$1\r\nb\r\n$5\r\nvalue\r\n+OK\r\n$1\r\nd\r\n';
  t.is((await raw.readUntil((r) => r.length >= seen + expected.length)).slice(seen), expected);
  // Messages came through all along; the subscription is intact.
  t.is(await redis.client.publish('ch', 'm'), 1);
  const message = '>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n';
  t.is((await raw.readUntil((r) => r.length >= seen + expected.length + message.length)).slice(seen + expected.length), message);
});

test("what the proxy refuses stays refused in a RESP3 subscription and in MONITOR, where Redis would run it; CLIENT KILL never reaches Redis's clients", async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const before = ((await redis.client.client('LIST')) as string).trim().split('\n').length;
  for (const start of [[cmd('HELLO', '3'), cmd('SUBSCRIBE', 'news')], [cmd('MONITOR')]]) {
    const raw = await connectRaw(proxy.respAddress);
    t.teardown(() => raw.destroy());
    for (const frame of start) raw.write(frame);
    await raw.readUntil((r) => r.includes('subscribe') || r.includes('+OK\r\n'));
    raw.write(cmd('CLIENT', 'KILL', 'TYPE', 'normal'));
    // Before the fix, the subscriber's CLIENT KILL ran on Redis and closed its other clients (the proxy's connections among them).
    await raw.readUntil((r) => r.includes('-ERR CLIENT KILL while subscribed or in MONITOR is not supported through redis-cache-proxy'));
    raw.write(cmd('DEBUG', 'SLEEP', '0'));
    await raw.readUntil((r) => r.includes("-ERR 'DEBUG' is not allowed through redis-cache-proxy"));
    raw.destroy();
  }
  t.is(await redis.client.get('nothing-here'), null);
  const after = ((await redis.client.client('LIST')) as string).trim().split('\n').length;
  t.true(after >= before - 2, `Redis's clients were not killed (${before} before, ${after} after)`);
  t.is(await redis.client.ping(), 'PONG');
});
