// /healthz (the process is alive), /readyz (the backend is ready) and /health (its old name), across a Redis outage.
import test from 'ava';
import { localOnly } from '../helpers/local-only.ts';
import { redisAndProxyUnderTest, startRedisAndProxy, type TestProxy } from '../helpers/proxy-process.ts';

interface Health {
  status: string;
  backend?: string;
  reason?: string;
}

async function health(proxy: TestProxy, path: string): Promise<{ status: number; type: string | null; body: Health }> {
  const res = await proxy.http(path, { signal: AbortSignal.timeout(15_000) });
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Health };
}

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: last result ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

localOnly('stops and restarts Redis')(
  '/readyz turns 503 with the reason while Redis is stopped and 200 when it is back; /healthz stays 200; /health is /readyz',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '1' });
    const backend = `127.0.0.1:${redis.port}`;

    const alive = await health(proxy, '/healthz');
    t.deepEqual(alive, { status: 200, type: 'application/json', body: { status: 'ok' } });
    for (const path of ['/readyz', '/health']) {
      t.deepEqual(await health(proxy, path), { status: 200, type: 'application/json', body: { status: 'ok', backend } }, path);
    }

    await redis.stop();
    const down = await eventually(
      () => health(proxy, '/readyz'),
      (h) => h.status === 503 && /ECONNREFUSED/.test(h.body.reason ?? ''),
      '/readyz while Redis is stopped',
    );
    t.deepEqual(down.body, { status: 'backend unavailable', backend, reason: `connect ECONNREFUSED ${backend}` });
    const old = await health(proxy, '/health');
    t.is(old.status, 503);
    t.is(old.body.status, 'backend unavailable');
    t.regex(old.body.reason ?? '', /ECONNREFUSED/);
    t.deepEqual((await health(proxy, '/healthz')).body, { status: 'ok' });
    t.is((await health(proxy, '/healthz')).status, 200, 'the process is alive while its backend is not');
    t.is((await proxy.http('/healthz', { method: 'HEAD' })).status, 200);

    await redis.restart();
    await eventually(
      () => health(proxy, '/readyz'),
      (h) => h.status === 200,
      '/readyz once Redis is back',
    );
    t.deepEqual((await health(proxy, '/readyz')).body, { status: 'ok', backend });
    t.is((await health(proxy, '/health')).status, 200);
    t.is((await health(proxy, '/healthz')).status, 200);
  },
);

test('/ lists the health endpoints', async (t) => {
  const { proxy } = await redisAndProxyUnderTest(t);
  const usage = await (await proxy.http('/')).text();
  t.regex(usage, /^GET \/healthz +\S/m);
  t.regex(usage, /^GET \/readyz +\S/m);
  t.regex(usage, /^GET \/health +\S/m);
  t.regex(usage, /^GET \/metrics +\S/m);
});
