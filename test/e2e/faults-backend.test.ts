// The backend misbehaving: connections killed or cut, a login refused, a slow link, a frozen or killed Redis. Every reply is checked.
import { Redis } from 'ioredis';
import { checkReplies, knownValues } from '../helpers/checker.ts';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, startProxy, startRedisAndProxy } from '../helpers/proxy-process.ts';
import { startRelay } from '../helpers/relay.ts';
import { startRedis } from '../helpers/redis-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** `npm run test:faults` sets FAULTS_LONG: the same scenarios, for longer. */
const LONG = process.env.FAULTS_LONG === '1';

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch((err: Error) => err as unknown as T);
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: last result ${String(value)}`);
    await sleep(50);
  }
}

/** The id of the proxy's backend connection in Redis's CLIENT LIST. */
async function proxyConnectionId(redis: Redis): Promise<string> {
  const list = (await redis.client('LIST')) as string;
  const id = /^id=(\d+) .*name=redis-cache-proxy /m.exec(list)?.[1];
  if (!id) throw new Error(`no proxy connection in:\n${list}`);
  return id;
}

localOnly("reads the proxy's log").serial('CLIENT KILL of the backend connection: a read 20 ms later is answered, not failed', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t);
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  await redis.client.mset({ a: '1', b: '2' });
  t.is(await client.get('a'), '1');
  const before = await proxyConnectionId(redis.client);
  await redis.client.client('KILL', 'ID', before);
  await sleep(20);
  t.is(await client.get('b'), '2');
  t.not(await proxyConnectionId(redis.client), before, 'a new connection');
  t.regex(proxy.output(), /connection lost .*reconnecting/);
});

localOnly('starts a proxy with CACHE_EXPIRY=0.02').serial(
  'the backend connection killed again and again under pipelined load: no error, no wrong value',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { CACHE_EXPIRY: '0.02' });
    const values = knownValues(500);
    await redis.client.mset(Object.fromEntries(values));
    let kills = 0;
    const killing = (async () => {
      const until = Date.now() + (LONG ? 30_000 : 2000);
      while (Date.now() < until) {
        await sleep(100);
        const id = await proxyConnectionId(redis.client).catch(() => undefined);
        if (id && Number(await redis.client.client('KILL', 'ID', id)) === 1) kills++;
      }
    })();
    const result = await checkReplies({ port: proxy.respPort, values, clients: 4, pipeline: 200, until: killing });
    t.true(kills >= 5, `${kills} kills`);
    t.is(result.wrong, 0, result.wrongSamples.join('\n'));
    t.is(result.errors, 0, result.errorSamples.join('\n'));
    t.is(result.dropped, 0);
    t.true(result.correct > 1000, `${result.correct} replies checked`);
  },
);

localOnly('puts a relay between the proxy and Redis').serial(
  'a connection cut with reads in flight: they are sent again on the next connection and every value is right',
  async (t) => {
    const redis = await startRedis();
    t.teardown(() => redis.close());
    // Redis's replies trickle through the relay, so reads are in flight when it cuts.
    const relay = await startRelay(redis, 4000);
    t.teardown(() => relay.close());
    const proxy = await startProxy({ env: { ...backendEnv({ host: '127.0.0.1', port: relay.port }), REDIS_TIMEOUT: '10' } });
    t.teardown(() => proxy.stop());
    const values = knownValues(200);
    await redis.client.mset(Object.fromEntries(values));
    const client = new Redis({ port: proxy.respPort });
    t.teardown(() => client.disconnect());
    const keys = [...values.keys()];
    const reads = client.mget(...keys);
    await sleep(300);
    relay.cutAll();
    relay.setRate(Infinity);
    t.deepEqual(
      await reads,
      keys.map((k) => values.get(k)),
    );
    t.regex(proxy.output(), /connection lost/);
  },
);

localOnly('starts a Redis with a password').serial(
  'Redis wants a password the proxy was not given: logged once, /health 503 with the reason, reads name it; fixed on Redis: served',
  async (t) => {
    const redis = await startRedis({ password: 's3cret' });
    t.teardown(() => redis.close());
    const proxy = await startProxy({ env: { ...backendEnv(redis), REDIS_TIMEOUT: '0.5' } });
    t.teardown(() => proxy.stop());
    const client = new Redis({ port: proxy.respPort });
    t.teardown(() => client.disconnect());
    await redis.client.set('k', 'v');

    const health = await proxy.http('/health');
    t.is(health.status, 503);
    t.regex(await health.text(), /login refused: NOAUTH/);
    const err = await client.get('k').catch((e: Error) => e);
    t.regex((err as Error).message, /^ERR backend Redis at 127\.0\.0\.1:\d+ is unavailable \(login refused: NOAUTH/);
    const http = await proxy.http('/query?key=k');
    t.is(http.status, 503);
    t.regex(await http.text(), /login refused: NOAUTH/);
    t.regex(await client.info('proxy'), /backend_status:down/);
    await sleep(1500); // several retries
    const refusals = proxy.logs().filter((line) => /login refused/.test(line.msg));
    t.is(refusals.length, 1, `logged once:\n${proxy.output()}`);
    t.like(refusals[0], { level: 'error', event: 'backend_unavailable', backend: `127.0.0.1:${redis.port}` });
    t.regex(String(refusals[0]!.reason), /^login refused: NOAUTH/);
    t.notRegex(proxy.output(), /backend \S+ connected/);

    await redis.client.config('SET', 'requirepass', '');
    await eventually(
      () => proxy.http('/health'),
      (r) => r.status === 200,
      '/health once Redis takes no password',
    );
    t.is(await client.get('k'), 'v');
  },
);

localOnly('puts a relay between the proxy and Redis').serial(
  'a Redis answering slowly: every read fails at its deadline, counted from when it was queued, instead of waiting its turn for ever',
  async (t) => {
    const redis = await startRedis();
    t.teardown(() => redis.close());
    // 2 KB/s: Redis keeps answering, about one 1 KB value every half second.
    const relay = await startRelay(redis, 2000);
    t.teardown(() => relay.close());
    const proxy = await startProxy({ env: { ...backendEnv({ host: '127.0.0.1', port: relay.port }), REDIS_TIMEOUT: '0.5', MAX_PARALLEL: '4' } });
    t.teardown(() => proxy.stop());
    const values = new Map(Array.from({ length: 40 }, (_, i) => [`slow:${i}`, `${i}:`.padEnd(1000, 'x')]));
    await redis.client.mset(Object.fromEntries(values));
    const client = new Redis({ port: proxy.respPort });
    t.teardown(() => client.disconnect());

    const started = Date.now();
    const pipeline = client.pipeline();
    for (const key of values.keys()) pipeline.get(key);
    const replies = (await pipeline.exec())!;
    const took = Date.now() - started;
    t.true(took < 3000, `all 40 answered in ${took} ms; at the link's pace they would take 20 s`);
    let timedOut = 0;
    for (const [i, [err, value]] of replies.entries()) {
      if (err) {
        t.regex(err.message, /unavailable \(no reply within 500 ms\)/);
        timedOut++;
      } else t.is(value, values.get(`slow:${i}`));
    }
    t.true(timedOut >= 30, `${timedOut} of 40 timed out`);
  },
);

localOnly('puts a relay between the proxy and Redis').serial(
  'a value whose transfer takes longer than REDIS_TIMEOUT fails that read, but the connection is kept for the others',
  async (t) => {
    const redis = await startRedis();
    t.teardown(() => redis.close());
    const relay = await startRelay(redis);
    t.teardown(() => relay.close());
    const proxy = await startProxy({ env: { ...backendEnv({ host: '127.0.0.1', port: relay.port }), REDIS_TIMEOUT: '1' } });
    t.teardown(() => proxy.stop());
    await redis.client.set('huge', Buffer.alloc(1024 * 1024, 'h'));
    await redis.client.set('small', 'ok');
    const client = new Redis({ port: proxy.respPort });
    t.teardown(() => client.disconnect());
    t.is(await client.get('small'), 'ok');

    relay.setRate(400_000); // 1 MiB takes 2.6 s
    const err = await client.get('huge').catch((e: Error) => e);
    t.regex((err as Error).message, /no reply within 1000 ms/);
    relay.setRate(Infinity);
    await sleep(2000);
    await redis.client.set('after', 'fine');
    t.is(await client.get('after'), 'fine');
    t.notRegex(proxy.output(), /connection lost/, 'bytes kept arriving: the connection was alive');
  },
);

localOnly('freezes Redis with SIGSTOP').serial(
  'Redis frozen (SIGSTOP) past REDIS_TIMEOUT, then resumed: errors while frozen, never a wrong value, all right after',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '0.5', CACHE_EXPIRY: '0.05' });
    const values = knownValues(500);
    await redis.client.mset(Object.fromEntries(values));
    const frozenMs = LONG ? 10_000 : 1500;
    const during = checkReplies({ port: proxy.respPort, values, clients: 4, pipeline: 100, until: sleep(frozenMs + 1500) });
    await sleep(300);
    redis.signal('SIGSTOP');
    await sleep(frozenMs);
    redis.signal('SIGCONT');
    const result = await during;
    t.is(result.wrong, 0, result.wrongSamples.join('\n'));
    t.is(result.dropped, 0);
    t.true(result.errors > 0, 'reads failed while Redis was frozen');
    for (const message of result.errorSamples) t.regex(message, /^ERR backend Redis at .* is unavailable/);

    const after = await eventually(
      () => checkReplies({ port: proxy.respPort, values, clients: 4, pipeline: 100, rounds: 5 }),
      (r) => r.errors === 0,
      'every read answered after the resume',
    );
    t.is(after.wrong, 0, after.wrongSamples.join('\n'));
    t.is(after.correct, 2000);
  },
);

localOnly('kills and restarts Redis').serial(
  'Redis killed (SIGKILL) and restarted under load: never a wrong value; served again without a restart',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '0.5', CACHE_EXPIRY: '0.05' });
    const values = knownValues(500);
    await redis.client.mset(Object.fromEntries(values));
    const rounds = LONG ? 10 : 1;
    const outage = (async () => {
      for (let i = 0; i < rounds; i++) {
        await sleep(300);
        // Saved first, so the restarted Redis loads the same values: any other answer is wrong.
        await redis.client.save();
        await redis.stop();
        await sleep(300);
        await redis.restart();
      }
      await sleep(300);
    })();
    const result = await checkReplies({ port: proxy.respPort, values, clients: 4, pipeline: 100, until: outage });
    await outage;
    t.is(result.wrong, 0, result.wrongSamples.join('\n'));
    t.is(result.dropped, 0);
    t.true(result.correct > 0);
    const after = await eventually(
      () => checkReplies({ port: proxy.respPort, values, clients: 4, pipeline: 100, rounds: 3 }),
      (r) => r.errors === 0,
      'every read answered after the restart',
    );
    t.is(after.correct, 1200);
  },
);
