// WORKERS=2: both workers share the ports, stay coherent through Redis, report per worker and in total, drain on SIGTERM, are replaced when killed, and drain when their primary dies.
import { Redis } from 'ioredis';
import { copyFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { eventually } from '../helpers/eventually.ts';
import { localOnly } from '../helpers/local-only.ts';
import { pipelinedGets } from '../helpers/pipelined-gets.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.ts';
import { backendEnv, runProxyCommand, startProxy, startRedisAndProxy } from '../helpers/proxy-process.ts';
import { startRelay } from '../helpers/relay.ts';
import { freePort, startRedis } from '../helpers/redis-server.ts';
import { makeTestCerts } from '../helpers/tls-certs.ts';

const workersTest = localOnly('starts proxies with WORKERS set');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const P = 'redis_cache_proxy_';

/** INFO's `field:value` lines as a map. */
function infoFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** A `workerN:pid=…,cache_hits=…` line's fields as numbers. */
function workerLine(info: Map<string, string>, id: number): Record<string, number> {
  const line = info.get(`worker${id}`);
  if (line === undefined) throw new Error(`no worker${id} line in INFO`);
  return Object.fromEntries(line.split(',').map((pair) => [pair.split('=')[0]!, Number(pair.split('=')[1])]));
}

interface OnWorker {
  readonly client: Redis;
  readonly info: Map<string, string>;
}

/** An ioredis client whose connection landed on worker `id` (connections go to the workers in turn; bounded tries). */
async function clientOnWorker(port: number, id: number): Promise<OnWorker> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const client = new Redis({ port, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    const info = infoFields(await client.info('proxy'));
    if (info.get('worker_id') === String(id)) return { client, info };
    client.disconnect();
  }
  throw new Error(`no connection reached worker ${id} in 40 tries`);
}

/** A raw socket whose connection landed on worker `id` (asked with INFO proxy; bounded tries). */
async function workerSocket(port: number, id: number): Promise<net.Socket> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    const text = await new Promise<string>((resolve) => {
      let received = '';
      socket.write('INFO proxy\r\n');
      const onData = (d: Buffer) => {
        received += d.toString('latin1');
        const m = /^\$(\d+)\r\n/.exec(received);
        if (m && received.length >= m[0].length + Number(m[1]) + 2) {
          socket.off('data', onData);
          resolve(received);
        }
      };
      socket.on('data', onData);
    });
    if (infoFields(text).get('worker_id') === String(id)) return socket;
    socket.destroy();
  }
  throw new Error(`no connection reached worker ${id} in 40 tries`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Both workers' pids, from INFO; killed when the test ends if still there (a test that failed half-way). */
async function workerPids(t: { teardown(fn: () => void): void }, port: number): Promise<number[]> {
  const pids: number[] = [];
  for (const id of [1, 2]) {
    const { client, info } = await clientOnWorker(port, id);
    client.disconnect();
    pids.push(Number(info.get('process_id')));
  }
  t.teardown(() => pids.filter(alive).forEach((pid) => process.kill(pid, 'SIGKILL')));
  return pids;
}

const start = (t: Parameters<typeof startRedisAndProxy>[0], env: Record<string, string> = {}) => startRedisAndProxy(t, { WORKERS: '2', ...env });

workersTest.serial(
  'WORKERS=2: connections reach both workers, each with its own pid and the same ports; one listening line; log lines carry the worker',
  async (t) => {
    const { proxy } = await start(t);
    const seen = new Map<string, Set<string>>();
    const clients: Redis[] = [];
    for (let i = 0; i < 20; i++) {
      const client = new Redis({ port: proxy.respPort });
      clients.push(client);
      const info = infoFields(await client.info('proxy'));
      t.is(info.get('workers'), '2');
      t.is(info.get('tcp_port'), String(proxy.respPort));
      t.is(info.get('http_port'), String(proxy.httpPort));
      const id = info.get('worker_id')!;
      seen.set(id, (seen.get(id) ?? new Set()).add(info.get('process_id')!));
    }
    clients.forEach((c) => c.disconnect());
    t.deepEqual([...seen.keys()].sort(), ['1', '2']);
    const pids = [...seen.values()].map((s) => [...s]);
    t.deepEqual(
      pids.map((p) => p.length),
      [1, 1],
      'one process per worker',
    );
    t.not(pids[0]![0], pids[1]![0]);
    t.false(pids.flat().includes(String(proxy.child.pid)), 'the primary serves nothing itself');

    const logs = proxy.logs();
    const listening = logs.filter((l) => l.event === 'listening');
    t.is(listening.length, 1, 'the listening line once');
    t.is(listening[0]!.workers, 2);
    t.regex(listening[0]!.msg, / workers=2$/);
    t.is(listening[0]!.worker, undefined, "the primary's own line");
    t.deepEqual(
      logs
        .filter((l) => l.event === 'backend_connected')
        .map((l) => l.worker)
        .sort(),
      [1, 2],
    );
  },
);

workersTest.serial('WORKERS=1 (the default) is one process, as before: no worker fields in INFO', async (t) => {
  const { proxy } = await startRedisAndProxy(t);
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  const info = infoFields(await client.info('proxy'));
  t.is(info.get('process_id'), String(proxy.child.pid));
  t.false(info.has('worker_id'));
  t.false(info.has('workers'));
  t.false([...info.keys()].some((k) => k.startsWith('all_workers_')));
  t.is(proxy.logs().find((l) => l.event === 'listening')?.workers, undefined);
});

workersTest.serial(
  'a write through worker 1 of a key cached on worker 2 is seen through worker 2 as soon as its reply came, as through one process; so is a write made on Redis directly once its invalidation arrives',
  async (t) => {
    // Redis's replies to the proxy pass a relay that can trickle them: then the SET's short reply reaches
    // worker 1 well before the longer invalidation reaches worker 2, as happens now and then on a busy
    // machine (50 of 2000 reads were stale before the workers confirmed each other's drops).
    const redis = await startRedis();
    t.teardown(() => redis.close());
    const relay = await startRelay(redis);
    t.teardown(() => relay.close());
    const proxy = await startProxy({ env: { ...backendEnv({ host: '127.0.0.1', port: relay.port }), WORKERS: '2', CACHE_EXPIRY: '3600' } });
    t.teardown(() => proxy.stop());
    const a = await clientOnWorker(proxy.respPort, 1);
    const b = await clientOnWorker(proxy.respPort, 2);
    t.teardown(() => [a, b].forEach(({ client }) => client.disconnect()));
    await eventually(async () => infoFields(await b.client.info('cache')).get('tracking') === 'on', 'tracking on worker 2');
    await eventually(async () => infoFields(await a.client.info('cache')).get('tracking') === 'on', 'tracking on worker 1');
    for (let round = 0; round < 10; round++) {
      const key = `shared:${round}`;
      await redis.client.set(key, `old-${round}`);
      t.is(await b.client.get(key), `old-${round}`);
      // Cached on worker 2: its second read does not reach Redis.
      t.is(await redis.readsDuring(async () => t.is(await b.client.get(key), `old-${round}`)), 0);
      // 20 bytes per 20 ms: the SET's +OK in one step, worker 2's invalidation in three.
      relay.setRate(1000);
      t.is(await a.client.set(key, `new-${round}`), 'OK');
      t.is(await b.client.get(key), `new-${round}`, `round ${round}: worker 2 right after the SET's reply`);
      relay.setRate(Infinity);
    }
    // And the other way round, with a DEL and a script whose keys the proxy does not know.
    await redis.client.set('shared:del', 'here');
    t.is(await a.client.get('shared:del'), 'here');
    t.is(await redis.readsDuring(async () => t.is(await a.client.get('shared:del'), 'here')), 0);
    relay.setRate(1000);
    t.is(await b.client.del('shared:del'), 1);
    t.is(await a.client.get('shared:del'), null);
    t.is(await a.client.get('shared:script'), null);
    t.is(await b.client.eval("return redis.call('SET', 'shared:script', 'by script')", 0), 'OK');
    t.is(await a.client.get('shared:script'), 'by script');
    relay.setRate(Infinity);
    // A write made on Redis directly is seen once Redis's invalidation arrives.
    await redis.client.set('shared:direct', 'new');
    await eventually(async () => (await b.client.get('shared:direct')) === 'new', 'worker 2 to see a direct write', 2000);
    // Through the writer's own worker a write is seen at once, as with one process.
    t.is(await b.client.set('shared:own', 'one'), 'OK');
    t.is(await b.client.get('shared:own'), 'one');
    t.is(await b.client.set('shared:own', 'two'), 'OK');
    t.is(await b.client.get('shared:own'), 'two');
  },
);

workersTest.serial(
  "INFO's all_workers_ totals are the sums of the workers' lines, which count what each worker served; /metrics shows both workers and the total",
  async (t) => {
    const { redis, proxy } = await start(t);
    await redis.client.set('counted', 'yes');
    const a = await clientOnWorker(proxy.respPort, 1);
    const b = await clientOnWorker(proxy.respPort, 2);
    t.teardown(() => [a, b].forEach(({ client }) => client.disconnect()));
    // One miss and 2 hits on worker 1; one miss and 4 hits on worker 2.
    for (let i = 0; i < 3; i++) t.is(await a.client.get('counted'), 'yes');
    for (let i = 0; i < 5; i++) t.is(await b.client.get('counted'), 'yes');
    const expected = {
      1: { cache_hits: 2, cache_misses: 1, cache_entries: 1, backend_reads: 1 },
      2: { cache_hits: 4, cache_misses: 1, cache_entries: 1, backend_reads: 1 },
    };
    // Each worker reports once a second: wait until both sides see the other's figures.
    for (const { client } of [a, b]) {
      await eventually(
        async () => {
          const info = infoFields(await client.info('proxy'));
          return [1, 2].every((id) => info.has(`worker${id}`) && workerLine(info, id).cache_hits === expected[id as 1 | 2].cache_hits);
        },
        'both workers figures',
        10_000,
      );
      const info = infoFields(await client.info('proxy'));
      for (const id of [1, 2] as const) {
        const line = workerLine(info, id);
        for (const [field, value] of Object.entries(expected[id])) t.is(line[field], value, `worker${id} ${field}`);
      }
      for (const field of Object.keys(workerLine(info, 1)).filter((f) => f !== 'pid')) {
        t.is(Number(info.get(`all_workers_${field}`)), workerLine(info, 1)[field]! + workerLine(info, 2)[field]!, `all_workers_${field}`);
      }
      t.is(info.get('all_workers_cache_hits'), '6');
      t.is(info.get('all_workers_cache_misses'), '2');
      // connected_clients: this client on its worker, the other on the other, as each last reported.
      t.is(info.get('all_workers_connected_clients'), '2');
    }

    const res = await proxy.http('/metrics');
    t.is(res.status, 200);
    const scrape = parsePrometheusText(await res.text());
    const answering = sampleValue(scrape, `${P}workers`, {});
    t.is(answering, 2);
    for (const id of [1, 2] as const) {
      t.is(sampleValue(scrape, `${P}worker_cache_hits_total`, { worker: String(id) }), expected[id].cache_hits);
      t.is(sampleValue(scrape, `${P}worker_cache_misses_total`, { worker: String(id) }), expected[id].cache_misses);
      t.is(sampleValue(scrape, `${P}worker_cache_entries`, { worker: String(id) }), 1);
    }
    t.is(sampleValue(scrape, `${P}all_workers_cache_hits_total`, {}), 6);
    t.is(sampleValue(scrape, `${P}all_workers_cache_misses_total`, {}), 2);
    t.is(sampleValue(scrape, `${P}all_workers_cache_entries`, {}), 2);
    // The answering worker's own series say which worker it is.
    const own = scrape.get(`${P}cache_hits_total`)!.samples;
    t.is(own.length, 1);
    t.true(['1', '2'].includes(own[0]!.labels.worker!));
    t.is(own[0]!.value, expected[Number(own[0]!.labels.worker) as 1 | 2].cache_hits);
  },
);

workersTest.serial(
  'SIGTERM to the primary: a pipelined batch in flight on each worker is answered whole, then the primary exits 0 and no worker remains',
  async (t) => {
    const { redis, proxy } = await start(t);
    const count = 200;
    await redis.client.mset(Object.fromEntries(Array.from({ length: count }, (_, i) => [`drain:${i}`, `value:${i}`])));
    const pids = await workerPids(t, proxy.respPort);
    const sockets = [await workerSocket(proxy.respPort, 1), await workerSocket(proxy.respPort, 2)];
    // Redis holds every command for 500 ms: each worker's misses wait in it.
    await redis.client.call('CLIENT', 'PAUSE', '500', 'ALL');
    const replies = sockets.map((socket) => pipelinedGets(socket, 'drain:', count));
    await sleep(100);
    const exit = proxy.stop('SIGTERM');
    for (const batch of await Promise.all(replies))
      t.deepEqual(
        batch,
        Array.from({ length: count }, (_, i) => `value:${i}`),
      );
    t.is(await exit, 0);
    t.deepEqual(pids.filter(alive), [], 'every worker exited with the primary');
    const logs = proxy.logs();
    t.deepEqual(
      logs
        .filter((l) => l.event === 'stopped' && l.worker !== undefined)
        .map((l) => l.worker)
        .sort(),
      [1, 2],
    );
    t.truthy(logs.find((l) => l.event === 'stopped' && l.worker === undefined && l.msg === 'stopped: every worker exited'));
  },
);

workersTest.serial('a worker killed with SIGKILL is replaced (same id, new pid) and the port keeps serving', async (t) => {
  const { redis, proxy } = await start(t);
  await redis.client.set('k', 'v');
  const [pid1] = await workerPids(t, proxy.respPort);
  process.kill(pid1!, 'SIGKILL');
  const exited = await proxy.waitForLog((l) => l.event === 'worker_exited', 'worker_exited');
  t.is(exited.worker, 1);
  t.is(exited.pid, pid1);
  t.is(exited.signal, 'SIGKILL');
  // Every connection is served meanwhile, by worker 2 until worker 1's replacement joins, then by both.
  for (let i = 0; i < 20; i++) {
    const client = new Redis({ port: proxy.respPort, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    t.is(await client.get('k'), 'v');
    client.disconnect();
  }
  const started = await proxy.waitForLog((l) => l.event === 'worker_started', 'worker_started');
  t.is(started.worker, 1);
  t.not(started.pid, pid1);
  const { client, info } = await clientOnWorker(proxy.respPort, 1);
  t.teardown(() => client.disconnect());
  t.is(info.get('process_id'), String(started.pid));
  t.is(info.get('tcp_port'), String(proxy.respPort), 'the replacement shares the port');
  t.is(await client.get('k'), 'v');
  t.true(alive(started.pid as number));
  t.teardown(() => alive(started.pid as number) && process.kill(started.pid as number, 'SIGKILL'));
  t.is(proxy.logs().filter((l) => l.event === 'listening').length, 1, 'no second listening line');
});

workersTest.serial('a worker that keeps dying is restarted after 100, 200, then 400 ms: a crash loop backs off', async (t) => {
  const { proxy } = await start(t);
  let [pid] = await workerPids(t, proxy.respPort);
  for (let death = 1; death <= 3; death++) {
    process.kill(pid!, 'SIGKILL');
    await proxy.waitForLog((l) => l.event === 'worker_exited' && l.pid === pid, `death ${death}`);
    const started = await proxy.waitForLog((l) => l.event === 'worker_started' && l.worker === 1 && l.pid !== pid, `restart ${death}`);
    pid = started.pid as number;
    t.teardown(() => alive(started.pid as number) && process.kill(started.pid as number, 'SIGKILL'));
  }
  t.deepEqual(
    proxy
      .logs()
      .filter((l) => l.event === 'worker_exited')
      .map((l) => [l.worker, l.restartInMs]),
    [
      [1, 100],
      [1, 200],
      [1, 400],
    ],
  );
});

workersTest.serial('a second SIGTERM to the primary, a second after the first, kills the draining workers and exits 1 at once', async (t) => {
  const { redis, proxy } = await start(t, { REDIS_TIMEOUT: '8', SHUTDOWN_TIMEOUT: '8' });
  await redis.client.set('stuck0', 'v');
  const pids = await workerPids(t, proxy.respPort);
  const sockets = [await workerSocket(proxy.respPort, 1), await workerSocket(proxy.respPort, 2)];
  await redis.client.call('CLIENT', 'PAUSE', '5000', 'ALL');
  sockets.forEach((socket) => void pipelinedGets(socket, 'stuck', 1).catch(() => {}));
  await sleep(100);
  proxy.child.kill('SIGTERM');
  await proxy.waitForLog((l) => l.event === 'shutdown' && l.worker === undefined, 'the shutdown line');
  await sleep(1100);
  const started = Date.now();
  t.is(await proxy.stop('SIGTERM'), 1);
  t.true(Date.now() - started < 3000, 'did not wait for the drain');
  await eventually(() => Promise.resolve(pids.every((pid) => !alive(pid))), 'the workers to be gone', 3000);
  t.truthy(proxy.logs().find((l) => l.event === 'shutdown_forced' && l.worker === undefined));
});

workersTest.serial('TLS_PORT with WORKERS=2: both workers serve it, and SIGHUP to the primary makes each worker read its certificate again', async (t) => {
  const certs = makeTestCerts();
  t.teardown(() => certs.remove());
  const cert = join(certs.dir, 'served.crt');
  const key = join(certs.dir, 'served.key');
  copyFileSync(certs.server.cert, cert);
  copyFileSync(certs.server.key, key);
  const tlsPort = await freePort();
  const { redis, proxy } = await start(t, { TLS_PORT: String(tlsPort), TLS_CERT_FILE: cert, TLS_KEY_FILE: key, TLS_AUTH_CLIENTS: 'no' });
  await redis.client.set('k', 'over tls');
  const seen = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const client = new Redis({ port: tlsPort, host: '127.0.0.1', tls: { ca: certs.ca.certPem } });
    t.is(await client.get('k'), 'over tls');
    const info = infoFields(await client.info('proxy'));
    t.is(info.get('tls_port'), String(tlsPort));
    seen.add(info.get('worker_id')!);
    client.disconnect();
  }
  t.deepEqual([...seen].sort(), ['1', '2']);
  const renewed = certs.issue('renewed', { serial: 1002, cn: 'renewed.localhost' });
  copyFileSync(renewed.cert, cert);
  copyFileSync(renewed.key, key);
  proxy.child.kill('SIGHUP');
  for (const id of [1, 2]) {
    const reloaded = await proxy.waitForLog((l) => l.event === 'tls_reloaded' && l.worker === id, `worker ${id}'s reload`);
    t.is(reloaded.serial, '03EA');
  }
  t.true(await proxy.running());
});

workersTest.serial(
  "the primary killed with SIGKILL: each worker answers its batch in flight, then exits (node:cluster's default would drop it at once)",
  async (t) => {
    const { redis, proxy } = await start(t);
    const count = 200;
    await redis.client.mset(Object.fromEntries(Array.from({ length: count }, (_, i) => [`orphan:${i}`, `value:${i}`])));
    const pids = await workerPids(t, proxy.respPort);
    const sockets = [await workerSocket(proxy.respPort, 1), await workerSocket(proxy.respPort, 2)];
    await redis.client.call('CLIENT', 'PAUSE', '500', 'ALL');
    const replies = sockets.map((socket) => pipelinedGets(socket, 'orphan:', count));
    await sleep(100);
    t.is(await proxy.stop('SIGKILL'), null);
    for (const batch of await Promise.all(replies))
      t.deepEqual(
        batch,
        Array.from({ length: count }, (_, i) => `value:${i}`),
      );
    await eventually(() => Promise.resolve(pids.every((pid) => !alive(pid))), 'every worker to exit', 10_000);
    t.is(proxy.logs().filter((l) => l.event === 'primary_lost').length, 2);
  },
);

workersTest.serial('WORKERS=0 and WORKERS=abc exit 2 with one line naming WORKERS', async (t) => {
  for (const value of ['0', 'abc', '257']) {
    const { code, stderr } = await runProxyCommand({ env: { WORKERS: value } });
    t.is(code, 2);
    const lines = stderr.trim().split('\n');
    t.is(lines.length, 1, stderr);
    t.is(lines[0], `redis-cache-proxy: WORKERS must be a positive integer up to 256, or auto (one per core), got "${value}" (from environment)`);
  }
});

workersTest.serial('WORKERS=2 with RESP_PORT taken: the workers cannot start, and the primary exits 1 without restarting them', async (t) => {
  const port = await freePort();
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const { code, stderr } = await runProxyCommand(
    { env: { WORKERS: '2', RESP_PORT: String(port), REDIS_PORT: String(await freePort()), REDIS_TIMEOUT: '0.2' } },
    30_000,
  );
  t.is(code, 1);
  t.regex(stderr, /the port is taken/);
  t.regex(stderr, /cannot start: worker [12] \(pid \d+\) exited with code 1 before listening/);
  t.notRegex(stderr, /worker_exited/, 'not restarted');
});
