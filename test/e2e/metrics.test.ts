// GET /metrics end to end: valid Prometheus text, and counters that move by exactly the traffic sent.
import test from 'ava';
import { type Family, parsePrometheusText, sampleValue } from '../helpers/prometheus.ts';
import { localOnly } from '../helpers/local-only.ts';
import { redisAndProxyUnderTest, startRedisAndProxy, type TestProxy } from '../helpers/proxy-process.ts';
import { connectRaw } from '../helpers/raw-client.ts';
import type { TestRedis } from '../helpers/redis-server.ts';

const P = 'redis_cache_proxy_';

type Scrape = Map<string, Family>;

async function scrape(proxy: TestProxy): Promise<Scrape> {
  const res = await proxy.http('/metrics', { signal: AbortSignal.timeout(15_000) });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  if (res.headers.get('content-type') !== 'text/plain; version=0.0.4; charset=utf-8') {
    throw new Error(`/metrics Content-Type ${res.headers.get('content-type')}`);
  }
  return parsePrometheusText(await res.text());
}

/** One of the proxy's own series (the prefix is added). */
const ours = (s: Scrape, name: string, labels: Record<string, string> = {}) => sampleValue(s, P + name, labels);

/** How much each of `series` moved between two scrapes. */
function deltas(before: Scrape, after: Scrape, series: [name: string, labels?: Record<string, string>][]): Record<string, number> {
  const moved: Record<string, number> = {};
  for (const [name, labels = {}] of series) {
    const label = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    moved[label ? `${name}{${label}}` : name] = ours(after, name, labels) - ours(before, name, labels);
  }
  return moved;
}

const ERROR_SERIES: [string, Record<string, string>?][] = [
  ['backend_reads_total'],
  ['backend_errors_total'],
  ['backend_read_errors_total', { kind: 'unavailable' }],
  ['backend_read_errors_total', { kind: 'timeout' }],
  ['backend_read_errors_total', { kind: 'reply' }],
];

const read = (proxy: TestProxy, key: string) => proxy.http(`/query?key=${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(15_000) });

/** GET calls Redis executed (INFO commandstats): the replies the proxy's backend connection received to its reads. */
async function redisGetCalls(redis: TestRedis): Promise<number> {
  const stats = await redis.client.info('commandstats');
  return Number(/^cmdstat_get:calls=(\d+),/m.exec(stats)?.[1] ?? 0);
}

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe().catch((err: unknown) => err as T);
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: last result ${String(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the scrape is Prometheus text with the process and Node metrics, and every metric of before under its old name and type', async (t) => {
  const { proxy } = await redisAndProxyUnderTest(t);
  const s = await scrape(proxy);
  const typeOf = (name: string): string | undefined => s.get(name)?.type;
  for (const [name, type] of [
    ['process_cpu_user_seconds_total', 'counter'],
    ['process_cpu_system_seconds_total', 'counter'],
    ['process_resident_memory_bytes', 'gauge'],
    ['process_start_time_seconds', 'gauge'],
    ['nodejs_eventloop_lag_seconds', 'gauge'],
    ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
    ['nodejs_heap_size_used_bytes', 'gauge'],
    ['nodejs_gc_duration_seconds', 'histogram'],
    ['nodejs_version_info', 'gauge'],
  ]) {
    t.is(typeOf(name!), type, name);
  }
  t.true(sampleValue(s, 'process_cpu_user_seconds_total') > 0);
  t.true(sampleValue(s, 'process_resident_memory_bytes') > 1e6);

  // Dashboards built on the metrics of before keep working: same names, same types, no labels added.
  for (const [name, type] of [
    ['cache_hits_total', 'counter'],
    ['cache_misses_total', 'counter'],
    ['cache_coalesced_reads_total', 'counter'],
    ['cache_evictions_total', 'counter'],
    ['cache_values_too_large_total', 'counter'],
    ['cache_entries', 'gauge'],
    ['cache_bytes', 'gauge'],
    ['cache_inflight_fetches', 'gauge'],
    ['backend_reads_total', 'counter'],
    ['backend_errors_total', 'counter'],
    ['resp_commands_total', 'counter'],
    ['resp_connections_total', 'counter'],
    ['resp_clients', 'gauge'],
    ['http_clients', 'gauge'],
    ['http_requests_total', 'counter'],
    ['rejected_connections_total', 'counter'],
    ['protocol_errors_total', 'counter'],
    ['uptime_seconds', 'gauge'],
  ]) {
    t.is(typeOf(P + name!), type, name);
    t.deepEqual(
      s.get(P + name!)!.samples.map((x) => x.labels),
      [{}],
      name,
    );
  }
  for (const [name, type] of [
    ['backend_read_errors_total', 'counter'],
    ['backend_read_duration_seconds', 'histogram'],
    ['clients', 'gauge'],
    ['rejected_clients_total', 'counter'],
    ['commands_total', 'counter'],
  ]) {
    t.is(typeOf(P + name!), type, name);
  }
  // Counters end in _total, and every series of ours is in the proxy's namespace with a HELP that says something.
  for (const family of s.values()) {
    if (family.type === 'counter') t.regex(family.name, /_total$/);
    if (family.name.startsWith(P)) t.true(family.help.length > 10, family.name);
  }
});

localOnly("counts from a fresh proxy's zero (its cache, clients and connections)")(
  '3 misses and 5 hits over HTTP, then GET, MGET, PING and others over RESP, move the counters by exactly that',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t);
    await redis.client.mset({ k1: 'v1', k2: 'v2', k3: 'v3' });

    const before = await scrape(proxy);
    const reads = await redis.readsDuring(async () => {
      for (const key of ['k1', 'k2', 'k3', 'k1', 'k2', 'k3', 'k1', 'k2']) {
        const res = await read(proxy, key);
        t.is(res.status, 200);
        t.is(await res.text(), `v${key[1]}`);
      }
    });
    t.is(reads, 3);
    const afterHttp = await scrape(proxy);
    t.deepEqual(
      deltas(before, afterHttp, [
        ['cache_hits_total'],
        ['cache_misses_total'],
        ['cache_coalesced_reads_total'],
        ['cache_evictions_total'],
        ['backend_read_duration_seconds_count'],
        ...ERROR_SERIES,
      ]),
      {
        cache_hits_total: 5,
        cache_misses_total: 3,
        cache_coalesced_reads_total: 0,
        cache_evictions_total: 0,
        backend_read_duration_seconds_count: 3,
        backend_reads_total: 3,
        backend_errors_total: 0,
        'backend_read_errors_total{kind=unavailable}': 0,
        'backend_read_errors_total{kind=timeout}': 0,
        'backend_read_errors_total{kind=reply}': 0,
      },
    );
    t.is(ours(afterHttp, 'cache_entries'), 3);
    t.is(ours(afterHttp, 'cache_bytes'), 3 * (2 + 2 + 80));

    // A raw connection, so that no client library adds commands of its own. GET as the decoder recognises it
    // whole (multibulk) and as an inline command; a command the proxy does not know counts as "unknown".
    const resp = await connectRaw(proxy.respPort);
    t.teardown(() => resp.destroy());
    resp.write('*2\r\n$3\r\nGET\r\n$2\r\nk1\r\nget k2\r\nMGET k1 k2 nope\r\nPING\r\nFOO bar\r\nNOSUCH\r\nCLIENT ID\r\nECHO end\r\n');
    const replies = await resp.readUntil((r) => r.endsWith('$3\r\nend\r\n'));
    t.regex(
      replies,
      /^\$2\r\nv1\r\n\$2\r\nv2\r\n\*3\r\n\$2\r\nv1\r\n\$2\r\nv2\r\n\$-1\r\n\+PONG\r\n-ERR unknown command 'FOO'.*\r\n-ERR unknown command 'NOSUCH'.*\r\n:\d+\r\n\$3\r\nend\r\n$/,
    );

    const afterResp = await scrape(proxy);
    t.deepEqual(deltas(afterHttp, afterResp, [['cache_hits_total'], ['cache_misses_total'], ['backend_reads_total'], ['resp_commands_total']]), {
      cache_hits_total: 4,
      cache_misses_total: 1,
      backend_reads_total: 1,
      resp_commands_total: 8,
    });
    const commands = afterResp.get(`${P}commands_total`)!.samples;
    t.deepEqual(Object.fromEntries(commands.map((c) => [c.labels.command, c.value])), { get: 2, mget: 1, ping: 1, client: 1, echo: 1, unknown: 2 });
    t.is(
      commands.reduce((sum, c) => sum + c.value, 0),
      ours(afterResp, 'resp_commands_total'),
    );
    t.is(ours(afterResp, 'cache_entries'), 4);

    // This connection, and the scrape's own.
    t.is(ours(afterResp, 'clients', { front_end: 'resp' }), 1);
    t.is(ours(afterResp, 'clients', { front_end: 'resp' }), ours(afterResp, 'resp_clients'));
    t.true(ours(afterResp, 'clients', { front_end: 'http' }) >= 1);
    t.is(ours(afterResp, 'clients', { front_end: 'http' }), ours(afterResp, 'http_clients'));
    t.is(ours(afterResp, 'resp_connections_total'), 1);
  },
);

localOnly('starts a proxy with CACHE_CAPACITY=5')('the backend latency histogram counts each backend reply once, in fixed cumulative buckets', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { CACHE_CAPACITY: '5' });
  const keys = Array.from({ length: 20 }, (_, i) => `lat:${i}`);
  await redis.client.mset(Object.fromEntries(keys.map((k) => [k, `value-of-${k}`])));
  // Some one at a time, some together (one write to Redis, replies in one or a few reads).
  for (const key of keys.slice(0, 5)) t.is(await (await read(proxy, key)).text(), `value-of-${key}`);
  const together = await Promise.all(keys.slice(5).map((key) => read(proxy, key).then((r) => r.text())));
  t.deepEqual(
    together,
    keys.slice(5).map((k) => `value-of-${k}`),
  );

  const s = await scrape(proxy);
  const replies = await redisGetCalls(redis);
  t.is(replies, 20);
  t.is(ours(s, 'backend_read_duration_seconds_count'), replies);
  t.is(ours(s, 'backend_reads_total'), replies);
  const buckets = s.get(`${P}backend_read_duration_seconds`)!.samples.filter((x) => x.name.endsWith('_bucket'));
  t.deepEqual(
    buckets.map((b) => b.labels.le),
    ['0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf'],
  );
  t.is(buckets.at(-1)!.value, 20);
  const sum = ours(s, 'backend_read_duration_seconds_sum');
  t.true(sum > 0 && sum < 20 * 2.5, `sum ${sum}`);
  // Capacity 5: the first 15 of 20 keys were evicted.
  t.is(ours(s, 'cache_evictions_total'), 15);
  t.is(ours(s, 'cache_entries'), 5);
});

localOnly('starts a proxy with REDIS_TIMEOUT=0.3 and stops Redis')(
  "backend errors are counted by kind: Redis's error reply, no reply in time, Redis unreachable",
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '0.3' });
    await redis.client.rpush('a-list', 'x');
    await redis.client.set('slow', 'v');

    let before = await scrape(proxy);
    const wrongType = await read(proxy, 'a-list');
    t.is(wrongType.status, 409);
    t.regex(await wrongType.text(), /^WRONGTYPE/);
    let after = await scrape(proxy);
    t.deepEqual(deltas(before, after, ERROR_SERIES), {
      backend_reads_total: 1,
      backend_errors_total: 1,
      'backend_read_errors_total{kind=unavailable}': 0,
      'backend_read_errors_total{kind=timeout}': 0,
      'backend_read_errors_total{kind=reply}': 1,
    });

    // Redis holds every command for 1.5 s: the read fails at REDIS_TIMEOUT.
    before = after;
    await redis.client.call('CLIENT', 'PAUSE', '1500', 'ALL');
    const stalled = await read(proxy, 'slow');
    t.is(stalled.status, 503);
    t.regex(await stalled.text(), /no reply within 300 ms/);
    after = await scrape(proxy);
    t.deepEqual(deltas(before, after, ERROR_SERIES), {
      backend_reads_total: 1,
      backend_errors_total: 1,
      'backend_read_errors_total{kind=unavailable}': 0,
      'backend_read_errors_total{kind=timeout}': 1,
      'backend_read_errors_total{kind=reply}': 0,
    });
    await eventually(
      () => read(proxy, 'slow'),
      (r) => r instanceof Response && r.status === 200,
      'a read after the pause',
    );

    // Redis stopped, and the proxy has found it gone: the read fails at once.
    await redis.stop();
    await eventually(
      () => proxy.http('/readyz').then((r) => r.text()),
      (text) => /ECONNREFUSED/.test(text),
      '/readyz naming the refusal',
    );
    before = await scrape(proxy);
    const down = await read(proxy, 'not-cached');
    t.is(down.status, 503);
    t.regex(await down.text(), /is unavailable \(connect ECONNREFUSED/);
    after = await scrape(proxy);
    t.deepEqual(deltas(before, after, ERROR_SERIES), {
      backend_reads_total: 1,
      backend_errors_total: 1,
      'backend_read_errors_total{kind=unavailable}': 1,
      'backend_read_errors_total{kind=timeout}': 0,
      'backend_read_errors_total{kind=reply}': 0,
    });
    const kinds = after.get(`${P}backend_read_errors_total`)!.samples;
    t.is(
      kinds.reduce((sum, k) => sum + k.value, 0),
      ours(after, 'backend_errors_total'),
    );
  },
);

localOnly('starts a proxy with MAX_CLIENTS=1')('a RESP client refused at MAX_CLIENTS is counted for its front end', async (t) => {
  const { proxy } = await startRedisAndProxy(t, { MAX_CLIENTS: '1' });
  const first = await connectRaw(proxy.respPort);
  t.teardown(() => first.destroy());
  first.write('PING\r\n');
  await first.readUntil((r) => r === '+PONG\r\n');
  const second = await connectRaw(proxy.respPort);
  t.teardown(() => second.destroy());
  t.is(await second.closed(), '-ERR max number of clients reached\r\n');
  const s = await scrape(proxy);
  t.is(ours(s, 'rejected_clients_total', { front_end: 'resp' }), 1);
  t.is(ours(s, 'rejected_clients_total', { front_end: 'http' }), 0);
  t.is(ours(s, 'rejected_connections_total'), 1);
  t.is(ours(s, 'clients', { front_end: 'resp' }), 1);
});
