// A backend that is down, stopped or stalled: errors within bounded time, no crash, recovery without a restart.
import test from 'ava';
import { Redis } from 'ioredis';
import { freshKey } from '../helpers/external.ts';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, redisAndProxyUnderTest, startProxy, startRedisAndProxy, type TestProxy } from '../helpers/proxy-process.ts';
import { freePort, startRedis } from '../helpers/redis-server.ts';

// Fetch gives up after 15 s: a proxy that hangs instead of answering fails the test.
const query = (p: TestProxy, key: string) => p.http(`/query?key=${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(15_000) });
const isOk = (r: unknown) => r instanceof Response && r.status === 200;

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe().catch((err: Error) => err as unknown as T);
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: last result ${String(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

localOnly('stops and restarts Redis').serial(
  'Redis stopped: 503 and -ERR naming the backend, no crash; Redis back on the same port: served again',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { CACHE_EXPIRY: '0.2', REDIS_TIMEOUT: '1' });
    const client = new Redis({ port: proxy.respPort, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    t.teardown(() => client.disconnect());
    await redis.client.set('k', 'before');
    t.is(await (await query(proxy, 'k')).text(), 'before');

    await redis.stop();
    await new Promise((r) => setTimeout(r, 300)); // let the cached entry expire
    const down = await query(proxy, 'k');
    t.is(down.status, 503);
    t.regex(await down.text(), new RegExp(`backend Redis at 127\\.0\\.0\\.1:${redis.port} is unavailable`));
    const err = await client.get('k').catch((e: Error) => e);
    t.true(err instanceof Error);
    t.regex((err as Error).message, /^ERR backend Redis at 127\.0\.0\.1:\d+ is unavailable/);
    t.is(await client.ping(), 'PONG', 'the RESP connection stays usable');
    t.is((await proxy.http('/health')).status, 503);
    t.is(proxy.child.exitCode, null);

    await redis.restart();
    await redis.client.set('k', 'after');
    const back = await eventually(() => query(proxy, 'k'), isOk, 'HTTP read after restart');
    t.is(await back.text(), 'after');
    t.is(await client.get('k'), 'after');
    t.is((await proxy.http('/health')).status, 200);
  },
);

localOnly('starts a proxy with REDIS_TIMEOUT=0.3').serial('a stalled Redis fails the read after REDIS_TIMEOUT instead of hanging, then recovers', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '0.3' });
  await redis.client.set('slow', 'v');
  // Redis holds every command for 1.5 s.
  await redis.client.call('CLIENT', 'PAUSE', '1500', 'ALL');
  const stalled = await query(proxy, 'slow');
  t.is(stalled.status, 503);
  t.regex(await stalled.text(), /unavailable \(no reply within 300 ms\)/);
  const back = await eventually(() => query(proxy, 'slow'), isOk, 'read after the pause');
  t.is(await back.text(), 'v');
});

localOnly('starts a proxy before its Redis').serial('the proxy starts while Redis is down, answers errors, and serves once Redis comes up', async (t) => {
  const port = await freePort();
  const proxy = await startProxy({ env: { ...backendEnv({ host: '127.0.0.1', port }), REDIS_TIMEOUT: '0.3' } });
  t.teardown(() => proxy.stop());
  t.regex(proxy.output(), /not reachable yet/);
  const down = await query(proxy, 'k');
  t.is(down.status, 503);
  t.regex(await down.text(), new RegExp(`127\\.0\\.0\\.1:${port}`));

  const redis = await startRedis({ port });
  t.teardown(() => redis.close());
  await redis.client.set('k', 'up');
  const up = await eventually(() => query(proxy, 'k'), isOk, 'read once Redis is up');
  t.is(await up.text(), 'up');
});

test.serial('a backend error reply (WRONGTYPE) is relayed, not cached, and hurts nothing else', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const client = new Redis(proxy.respAddress);
  t.teardown(() => client.disconnect());
  const list = freshKey('a-list');
  await redis.client.rpush(list, 'x');
  const err = await client.get(list).catch((e: Error) => e);
  t.regex((err as Error).message, /^WRONGTYPE Operation against a key holding the wrong kind of value/);
  const http = await query(proxy, list);
  t.is(http.status, 409);
  const before = await redis.reads();
  await client.get(list).catch(() => {});
  t.is((await redis.reads()) - before, 1, 'an error is never cached');
  t.is(await client.ping(), 'PONG');
});
