// Clients that stop sending while a session is open (their end of the stream, QUIT): answered as Redis answers them, and closed, never left hanging.
import test, { type ExecutionContext } from 'ava';
import { type Address, freshKey } from '../helpers/external.ts';
import { redisAndProxyUnderTest } from '../helpers/proxy-process.ts';
import { connectRaw } from '../helpers/raw-client.ts';
import type { TestRedis } from '../helpers/redis-server.ts';

/** Sends `bytes` (then ends its side, when `end`); resolves with what came back before the server closed the connection. */
async function exchange(to: Address, bytes: string, { end }: { end: boolean }): Promise<string> {
  const raw = await connectRaw(to);
  try {
    raw.write(bytes);
    if (end) raw.end();
    // Generous: proves "answered and closed", not how fast.
    return await raw.closed(5000);
  } finally {
    raw.destroy();
  }
}

/** The same bytes to Redis itself and to the proxy, each on a key of its own (`$K` in `script`), named after `label`. */
async function bothWays(t: ExecutionContext, redis: TestRedis, proxy: Address, label: string, script: string, end: boolean) {
  const [direct, proxied] = [freshKey(`${label}:direct`), freshKey(`${label}:proxied`)];
  const fromRedis = await exchange({ host: redis.host, port: redis.port }, script.replaceAll('$K', direct), { end });
  const fromProxy = await exchange(proxy, script.replaceAll('$K', proxied), { end });
  t.is(fromProxy, fromRedis);
  return { direct, proxied, fromRedis };
}

test('a transaction sent whole, then the end of the stream: every reply comes, the transaction runs, the connection closes', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const { direct, proxied, fromRedis } = await bothWays(t, redis, proxy.respAddress, 'tx', 'MULTI\r\nSET $K 1\r\nINCR $K\r\nEXEC\r\n', true);
  t.is(fromRedis, '+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n');
  t.deepEqual(await redis.client.mget(direct, proxied), ['2', '2']);
});

test('a blocked BLPOP, then the end of the stream: no reply, the connection closes, and the element pushed next stays in the list', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  // In one write: the end comes before the proxy's own connection for the session is even open.
  const { direct, proxied, fromRedis } = await bothWays(t, redis, proxy.respAddress, 'blpop', 'PING\r\nBLPOP $K 0\r\n', true);
  t.is(fromRedis, '+PONG\r\n');
  // The blocked pops went with their clients: what is pushed now stays.
  for (const key of [direct, proxied]) t.is(await redis.client.lpush(key, 'kept'), 1);
  t.deepEqual(await Promise.all([redis.client.llen(direct), redis.client.llen(proxied)]), [1, 1]);

  // Once the pop is blocked in Redis (through the proxy's own connection), the same.
  const key = freshKey('blocked');
  const raw = await connectRaw(proxy.respAddress);
  t.teardown(() => raw.destroy());
  const blockedBefore = Number(/^blocked_clients:(\d+)/m.exec(await redis.client.info('clients'))![1]);
  raw.write(`BLPOP ${key} 0\r\n`);
  const deadline = Date.now() + 5000;
  while (Number(/^blocked_clients:(\d+)/m.exec(await redis.client.info('clients'))![1]) <= blockedBefore && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  raw.end();
  t.is(await raw.closed(5000), '');
  t.is(await redis.client.lpush(key, 'kept'), 1);
  t.is(await redis.client.llen(key), 1);
});

test('MULTI then QUIT in one write: both answered as Redis answers them, then the connection closes', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const { fromRedis } = await bothWays(t, redis, proxy.respAddress, 'quit', 'MULTI\r\nSET $K 1\r\nQUIT\r\n', false);
  t.is(fromRedis, '+OK\r\n+QUEUED\r\n+OK\r\n');
});
