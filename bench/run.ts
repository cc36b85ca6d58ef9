// The benchmark (npm run bench): the proxy against direct Redis, twemproxy and a bare node:http server, in one run.
import { cpus } from 'node:os';
import { Redis } from 'ioredis';
import { type BenchResults, printTable, saveResults, updateBenchmarksMd } from './report.ts';
import { hasCommand, rssBytes, startBareHttpServer, startBenchProxy, startRedis, startTwemproxy, type TestRedis, warm } from './targets.ts';
import { clusterPhase } from './cluster.ts';
import { measureInvalidationDelay, type InvalidationDelay } from './invalidation-delay.ts';
import {
  backgroundReads,
  benchKey,
  httpLoad,
  KEYSPACE,
  type Measurement,
  mixedLoad,
  redisBenchmark,
  redisBenchmarkCommand,
  writeHeavyLoad,
} from './workloads.ts';
import net from 'node:net';
import { makeTestCerts } from '../test/helpers/tls-certs.ts';
import { freePort } from '../test/helpers/redis-server.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Scales request counts and durations down for a quick look (e.g. BENCH_SCALE=0.2). */
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const MEMORY_KEYS = Number(process.env.BENCH_MEMORY_KEYS ?? 1_000_000);
/** For iterating on one figure: BENCH_ONLY=memory, BENCH_ONLY=throughput, BENCH_ONLY=tls, BENCH_ONLY=cluster or BENCH_ONLY=workers. */
const ONLY = process.env.BENCH_ONLY;
/**
 * Before/after figures for a change in one run: BENCH_BASELINE=<another checkout, with node_modules>
 * adds its proxy as base-hit and base-miss next to this one's.
 */
const BASELINE = process.env.BENCH_BASELINE;
const VALUE = Buffer.alloc(100, 0x76);
/** HGETALL's keyspace: hashes hash:000000000000 … of ten 10-byte fields each. */
const HASHES = 1000;
const HGETALL = ['HGETALL', 'hash:__rand_int__'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const medianOf = (ms: Measurement[]): Measurement => ({
  rps: median(ms.map((m) => m.rps)),
  p50: median(ms.map((m) => m.p50)),
  p99: median(ms.map((m) => m.p99)),
});
const log = (line: string) => process.stderr.write(`${line}\n`);

async function loadKeys(client: Redis, count: number, key: (i: number) => string): Promise<void> {
  for (let start = 0; start < count; start += 10_000) {
    const pipeline = client.pipeline();
    for (let i = start; i < Math.min(count, start + 10_000); i++) pipeline.set(key(i), VALUE);
    await pipeline.exec();
  }
}

async function loadHashes(client: Redis): Promise<void> {
  const pipeline = client.pipeline();
  const fields = Array.from({ length: 10 }, (_, f) => [`field:${f}`, `value:${String(f).padStart(4, '0')}`]).flat();
  for (let i = 0; i < HASHES; i++) pipeline.hset(`hash:${String(i).padStart(12, '0')}`, ...fields);
  await pipeline.exec();
}

/** The password of the proxy measured with PROXY_PASSWORD (GET P1 with PROXY_PASSWORD). */
const BENCH_PASSWORD = 'bench-proxy-password';

async function proxyStats(port: number): Promise<Record<string, number>> {
  const client = new Redis({ port, protocol: 2 });
  const info = await client.info('cache');
  client.disconnect();
  return Object.fromEntries([...info.matchAll(/^(\w+):(\d+)\r?$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

type AddSample = (key: string, m: Measurement) => void;

/**
 * GET P1 and P16 over TLS: redis-benchmark --tls against redis-server's own TLS port (a TLS-only Redis
 * with the same keys) and against the proxy's TLS_PORT, every key cached. Both pay for TLS, so the
 * ratio is the proxy's cost over Redis's with encryption on both.
 */
async function overTls(add: AddSample, notes: string[]): Promise<void> {
  const certs = makeTestCerts();
  const tlsRedis = await startRedis({ tls: { server: certs.server, ca: certs.ca } });
  const tlsPort = await freePort();
  const proxy = await startBenchProxy(tlsRedis, {
    CACHE_CAPACITY: String(KEYSPACE * 2),
    CACHE_EXPIRY: '86400',
    TLS_PORT: String(tlsPort),
    TLS_CERT_FILE: certs.server.cert,
    TLS_KEY_FILE: certs.server.key,
    TLS_AUTH_CLIENTS: 'no',
    REDIS_URL: `rediss://127.0.0.1:${tlsRedis.port}`,
    REDIS_TLS_CA_CERT_FILE: certs.ca.cert,
  });
  try {
    await loadKeys(tlsRedis.client, KEYSPACE, benchKey);
    const cached = await warm(proxy.respPort, KEYSPACE, benchKey);
    if (cached !== KEYSPACE) throw new Error(`warming cached ${cached} of ${KEYSPACE} keys`);
    const targets = [
      { name: 'redis', port: tlsRedis.port },
      { name: 'proxy-hit', port: tlsPort },
    ];
    const tls = { cacert: certs.ca.cert };
    for (const target of targets) for (const pipeline of [1, 16]) await redisBenchmark(target.port, pipeline, Math.round(50_000 * SCALE), 'get', { tls });
    for (let round = 0; round < ROUNDS; round++) {
      const order = <T>(xs: T[]) => (round % 2 === 0 ? xs : [...xs].reverse());
      for (const pipeline of [1, 16]) {
        const requests = Math.round((pipeline === 1 ? 200_000 : 1_000_000) * SCALE);
        for (const target of order(targets)) {
          const m = await redisBenchmark(target.port, pipeline, requests, 'get', { tls });
          add(`${target.name}/TLS-P${pipeline}`, m);
          log(`round ${round + 1} TLS P${pipeline} ${target.name}: ${Math.round(m.rps)} req/s p50 ${m.p50} ms p99 ${m.p99} ms`);
        }
      }
    }
    notes.push(
      "GET P1/P16 over TLS: redis-benchmark --tls --cacert, 50 clients, against redis-server's own TLS port (a TLS-only Redis with the same keys, default TLS settings) and against the proxy's TLS_PORT (every key cached; its backend over rediss://).",
    );
  } finally {
    await proxy.stop();
    await tlsRedis.close();
    certs.remove();
  }
}

/** Reads every key once on each of a WORKERS=`count` proxy's workers (each has its own cache); connections reach them in turn. */
async function warmEveryWorker(port: number, count: number): Promise<void> {
  const warmed = new Set<string>();
  for (let attempt = 0; warmed.size < count; attempt++) {
    if (attempt > 20 * count) throw new Error(`warming reached ${warmed.size} of ${count} workers`);
    const client = new Redis({ port, protocol: 2 });
    const id = /^worker_id:(\d+)/m.exec(await client.info('proxy'))?.[1] ?? '1';
    if (!warmed.has(id)) {
      for (let start = 0; start < KEYSPACE; start += 500) await client.mgetBuffer(...Array.from({ length: 500 }, (_, j) => benchKey(start + j)));
      const entries = Number(/^cache_entries:(\d+)/m.exec(await client.info('cache'))![1]);
      if (entries !== KEYSPACE) throw new Error(`warming worker ${id} cached ${entries} of ${KEYSPACE} keys`);
      warmed.add(id);
    }
    client.disconnect();
  }
}

/**
 * Hit GET P16 through a proxy with WORKERS=1 and one with WORKERS=2, every key cached in every worker,
 * alternating. On a machine whose cores redis-benchmark and Redis share with the workers, this is how
 * much a second worker buys there, not what it buys with cores to spare.
 */
async function workers(redis: TestRedis, add: AddSample, notes: string[]): Promise<void> {
  const env = { CACHE_CAPACITY: String(KEYSPACE * 2), CACHE_EXPIRY: '86400' };
  const targets = [
    { name: 'workers-1', proxy: await startBenchProxy(redis, { ...env, WORKERS: '1' }), count: 1 },
    { name: 'workers-2', proxy: await startBenchProxy(redis, { ...env, WORKERS: '2' }), count: 2 },
  ];
  try {
    for (const { proxy, count } of targets) await warmEveryWorker(proxy.respPort, count);
    for (const { proxy } of targets) await redisBenchmark(proxy.respPort, 16, Math.round(100_000 * SCALE));
    for (let round = 0; round < ROUNDS; round++) {
      for (const { name, proxy } of round % 2 === 0 ? targets : [...targets].reverse()) {
        const m = await redisBenchmark(proxy.respPort, 16, Math.round(1_000_000 * SCALE));
        add(`${name}/P16`, m);
        log(`round ${round + 1} hit P16 ${name}: ${Math.round(m.rps)} req/s p50 ${m.p50} ms p99 ${m.p99} ms`);
      }
    }
    notes.push(
      `GET P16 workers-1, workers-2: redis-benchmark -c 50 -P 16 -t get against a proxy with WORKERS=1 and one with WORKERS=2 (every key cached in each worker), alternating; this machine has ${cpus().length} cores, shared by the workers, redis-benchmark and Redis.`,
    );
  } finally {
    await Promise.all(targets.map(({ proxy }) => proxy.stop()));
  }
}

async function throughput(redis: TestRedis, notes: string[]) {
  const twemproxy = await startTwemproxy(redis);
  if (!twemproxy) notes.push('nutcracker (twemproxy) is not installed: its column is empty (apt-get install nutcracker).');
  const hitProxy = await startBenchProxy(redis, { CACHE_CAPACITY: String(KEYSPACE * 2), CACHE_EXPIRY: '86400' });
  // Capacity 1 over 10 000 random keys: nearly every read misses and goes to Redis.
  const missProxy = await startBenchProxy(redis, { CACHE_CAPACITY: '1', CACHE_EXPIRY: '86400' });
  // The same as hitProxy but for PROXY_PASSWORD: what client authentication costs a cached GET.
  const passwordProxy = await startBenchProxy(redis, { CACHE_CAPACITY: String(KEYSPACE * 2), CACHE_EXPIRY: '86400', PROXY_PASSWORD: BENCH_PASSWORD });
  const baseHit = BASELINE ? await startBenchProxy(redis, { CACHE_CAPACITY: String(KEYSPACE * 2), CACHE_EXPIRY: '86400' }, BASELINE) : undefined;
  const baseMiss = BASELINE ? await startBenchProxy(redis, { CACHE_CAPACITY: '1', CACHE_EXPIRY: '86400' }, BASELINE) : undefined;
  if (BASELINE) notes.push(`base-hit and base-miss: the proxy from ${BASELINE}, for before/after figures.`);
  const bare = await startBareHttpServer();
  try {
    for (const proxy of [hitProxy, baseHit]) {
      if (!proxy) continue;
      const cached = await warm(proxy.respPort, KEYSPACE, benchKey);
      if (cached !== KEYSPACE) throw new Error(`warming cached ${cached} of ${KEYSPACE} keys`);
    }

    const resp = [
      { name: 'redis', port: redis.port },
      ...(twemproxy ? [{ name: 'twemproxy', port: twemproxy.port }] : []),
      { name: 'proxy-hit', port: hitProxy.respPort },
      { name: 'proxy-miss', port: missProxy.respPort },
      ...(baseHit && baseMiss
        ? [
            { name: 'base-hit', port: baseHit.respPort },
            { name: 'base-miss', port: baseMiss.respPort },
          ]
        : []),
    ];
    const http = [
      { name: 'proxy-http', port: hitProxy.httpPort, randomKeys: true },
      { name: 'bare-node-http', port: bare.port, randomKeys: false },
    ];
    // Steady state is what is compared: let the JIT compile each target's paths before measuring.
    for (const target of resp) for (const pipeline of [1, 16]) await redisBenchmark(target.port, pipeline, Math.round(50_000 * SCALE));
    const samples: Record<string, Measurement[]> = {};
    const add = (key: string, m: Measurement) => (samples[key] ??= []).push(m);
    let httpTool = '';
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order each round so no target always runs first (or last) on a noisy machine.
      const order = <T>(xs: T[]) => (round % 2 === 0 ? xs : [...xs].reverse());
      for (const pipeline of [1, 16]) {
        const requests = Math.round((pipeline === 1 ? 200_000 : 1_000_000) * SCALE);
        for (const target of order(resp)) {
          const m = await redisBenchmark(target.port, pipeline, requests);
          add(`${target.name}/P${pipeline}`, m);
          log(`round ${round + 1} P${pipeline} ${target.name}: ${Math.round(m.rps)} req/s p50 ${m.p50} ms p99 ${m.p99} ms`);
        }
      }
      for (const target of order(http)) {
        const m = await httpLoad(target.port, target.randomKeys, Math.max(2, Math.round(5 * SCALE)));
        httpTool = m.tool;
        add(target.name, m);
        log(`round ${round + 1} HTTP ${target.name} (${m.tool}): ${Math.round(m.rps)} req/s p50 ${m.p50} ms p99 ${m.p99} ms`);
      }
    }
    await overTls(add, notes);
    await clusterPhase(add, notes, { rounds: ROUNDS, scale: SCALE, log });
    await workers(redis, add, notes);
    // The drop-in workloads: writes forwarded, and a mix, against Redis, twemproxy and the proxy. They
    // write the keyspace, so they run after the reads; the proxy is warmed again before the mix.
    const writers = [
      { name: 'redis', port: redis.port },
      ...(twemproxy ? [{ name: 'twemproxy', port: twemproxy.port }] : []),
      { name: 'proxy-hit', port: hitProxy.respPort },
    ];
    for (const target of writers) for (const pipeline of [1, 16]) await redisBenchmark(target.port, pipeline, Math.round(50_000 * SCALE), 'set');
    for (let round = 0; round < ROUNDS; round++) {
      const order = <T>(xs: T[]) => (round % 2 === 0 ? xs : [...xs].reverse());
      for (const pipeline of [1, 16]) {
        const requests = Math.round((pipeline === 1 ? 200_000 : 1_000_000) * SCALE);
        for (const target of order(writers)) {
          const m = await redisBenchmark(target.port, pipeline, requests, 'set');
          add(`${target.name}/SET-P${pipeline}`, m);
          log(`round ${round + 1} SET P${pipeline} ${target.name}: ${Math.round(m.rps)} req/s p50 ${m.p50} ms p99 ${m.p99} ms`);
        }
      }
    }
    await loadKeys(redis.client, KEYSPACE, benchKey);
    await warm(hitProxy.respPort, KEYSPACE, benchKey);
    for (let round = 0; round < ROUNDS; round++) {
      const order = <T>(xs: T[]) => (round % 2 === 0 ? xs : [...xs].reverse());
      for (const target of order(writers)) {
        const m = await mixedLoad(target.port, Math.max(2, Math.round(5 * SCALE)));
        add(`${target.name}/mixed`, m);
        log(`round ${round + 1} mixed ${target.name}: ${Math.round(m.rps)} req/s p50 ${m.p50.toFixed(3)} ms p99 ${m.p99.toFixed(3)} ms`);
      }
    }
    // HGETALL of a 10-field hash: a cached read beyond GET, against direct Redis and twemproxy.
    await loadHashes(redis.client);
    for (const target of writers)
      for (const pipeline of [1, 16]) await redisBenchmarkCommand(target.port, pipeline, Math.round(50_000 * SCALE), HASHES, HGETALL);
    for (let round = 0; round < ROUNDS; round++) {
      const order = <T>(xs: T[]) => (round % 2 === 0 ? xs : [...xs].reverse());
      for (const pipeline of [1, 16]) {
        const requests = Math.round((pipeline === 1 ? 200_000 : 1_000_000) * SCALE);
        for (const target of order(writers)) {
          const m = await redisBenchmarkCommand(target.port, pipeline, requests, HASHES, HGETALL);
          add(`${target.name}/HGETALL-P${pipeline}`, m);
          log(`round ${round + 1} HGETALL P${pipeline} ${target.name}: ${Math.round(m.rps)} req/s p50 ${m.p50} ms p99 ${m.p99} ms`);
        }
      }
    }
    // Write-heavy: half the requests SETs straight on Redis, half GETs through the target, on the same keys.
    // Every SET invalidates a key the proxy may have cached; what is left of its cache is the hit ratio.
    await warm(hitProxy.respPort, KEYSPACE, benchKey);
    const beforeWriteHeavy = await proxyStats(hitProxy.respPort);
    for (let round = 0; round < ROUNDS; round++) {
      const order = <T>(xs: T[]) => (round % 2 === 0 ? xs : [...xs].reverse());
      for (const target of order(writers)) {
        const m = await writeHeavyLoad(target.port, redis.port, Math.max(2, Math.round(5 * SCALE)));
        add(`${target.name}/write-heavy`, m);
        log(`round ${round + 1} write-heavy reads ${target.name}: ${Math.round(m.rps)} req/s p50 ${m.p50.toFixed(3)} ms p99 ${m.p99.toFixed(3)} ms`);
      }
    }
    const afterWriteHeavy = await proxyStats(hitProxy.respPort);
    const hits = afterWriteHeavy.cache_hits! - beforeWriteHeavy.cache_hits!;
    const misses = afterWriteHeavy.cache_misses! - beforeWriteHeavy.cache_misses!;
    notes.push(
      `WRITE-HEAVY 50/50: 50 connections, each request a GET through the target or a SET of the same keys straight on Redis, half and half; the reads' figures. ` +
        `proxy-hit answered ${((100 * hits) / (hits + misses)).toFixed(1)}% of those reads from its cache, and dropped ${afterWriteHeavy.tracking_invalidated_keys! - beforeWriteHeavy.tracking_invalidated_keys!} keys on Redis's invalidations.`,
    );
    notes.push(`HGETALL P1/P16: redis-benchmark -c 50 -r ${HASHES} HGETALL hash:__rand_int__, hashes of ten 10-byte fields.`);

    // 50 clients blocked on BLPOP 0, each on its own backend connection, beside 50 reading: the
    // readers' GET P1, each round next to the same without them (not the GET P1 above: the process
    // has run every other workload since, and that alone moves its figures).
    await warm(hitProxy.respPort, KEYSPACE, benchKey);
    const blockClients = () =>
      Promise.all(
        Array.from(
          { length: 50 },
          (_, i) =>
            new Promise<net.Socket>((resolve, reject) => {
              const s = net.connect(hitProxy.respPort, '127.0.0.1', () => resolve(s));
              s.on('error', reject);
              s.write(`BLPOP bench:blocked:${i} 0\r\n`);
            }),
        ),
      );
    for (let round = 0; round < ROUNDS; round++) {
      const unblocked = await redisBenchmark(hitProxy.respPort, 1, Math.round(200_000 * SCALE));
      add('proxy-hit/P1-unblocked', unblocked);
      const blocked = await blockClients();
      try {
        const m = await redisBenchmark(hitProxy.respPort, 1, Math.round(200_000 * SCALE));
        add('proxy-hit/P1-blocked', m);
        log(
          `round ${round + 1} GET P1 proxy-hit: ${Math.round(unblocked.rps)} req/s alone, ${Math.round(m.rps)} req/s with 50 blocked (p99 ${unblocked.p99} and ${m.p99} ms)`,
        );
      } finally {
        blocked.forEach((s) => s.destroy());
      }
    }
    // GET P1 through a proxy with PROXY_PASSWORD (redis-benchmark -a: AUTH on each connection, then GETs),
    // each round next to the same proxy without one measured just before it, both warmed alike.
    await warm(hitProxy.respPort, KEYSPACE, benchKey);
    await warm(passwordProxy.respPort, KEYSPACE, benchKey, BENCH_PASSWORD);
    await redisBenchmark(passwordProxy.respPort, 1, Math.round(50_000 * SCALE), 'get', { password: BENCH_PASSWORD });
    for (let round = 0; round < ROUNDS; round++) {
      const open = await redisBenchmark(hitProxy.respPort, 1, Math.round(200_000 * SCALE));
      add('proxy-hit/P1-no-password', open);
      const m = await redisBenchmark(passwordProxy.respPort, 1, Math.round(200_000 * SCALE), 'get', { password: BENCH_PASSWORD });
      add('proxy-hit/P1-password', m);
      log(
        `round ${round + 1} GET P1 proxy-hit: ${Math.round(open.rps)} req/s without a password, ${Math.round(m.rps)} req/s with PROXY_PASSWORD (p99 ${open.p99} and ${m.p99} ms)`,
      );
    }
    notes.push(
      'GET P1 with PROXY_PASSWORD: a proxy like proxy-hit with PROXY_PASSWORD set, redis-benchmark -a (each connection sends AUTH first); GET P1, no password: proxy-hit just before it, in each round.',
    );
    notes.push(
      'SET P1/P16: redis-benchmark -t set, 50 clients. MIXED 90/10: 50 connections, 90% GET and 10% SET of 100-byte values over the keyspace, one request in flight each (bench/mixed-load.ts, a Node generator: it caps every target alike).',
    );
    notes.push(
      "GET P1, 50 blocked: proxy-hit's GET P1 while 50 other clients each hold a BLPOP 0 on their own backend connection; GET P1, none blocked: the same, just before, in each round.",
    );

    const missStats = await proxyStats(missProxy.respPort);
    const hitStats = await proxyStats(hitProxy.respPort);
    notes.push(
      `proxy-miss answered ${((100 * missStats.cache_misses!) / (missStats.cache_hits! + missStats.cache_misses!)).toFixed(1)}% of its reads from Redis; ` +
        `proxy-hit ${((100 * hitStats.cache_hits!) / (hitStats.cache_hits! + hitStats.cache_misses!)).toFixed(2)}% from its cache.`,
    );
    notes.push(`HTTP load generator: ${httpTool}, 50 connections.`);
    // The invalidation delay, last: 10 connections keep reading through the proxy meanwhile.
    const load = backgroundReads(hitProxy.respPort, 10);
    let coherence: InvalidationDelay;
    try {
      await new Promise((r) => setTimeout(r, 500));
      coherence = await measureInvalidationDelay(redis.port, hitProxy.respPort, Math.round(10_000 * SCALE));
    } finally {
      await load.stop();
    }
    log(
      `invalidation delay over ${coherence.writes} writes: p50 ${coherence.p50.toFixed(3)} ms p99 ${coherence.p99.toFixed(3)} ms max ${coherence.max.toFixed(3)} ms`,
    );
    return { medians: Object.fromEntries(Object.entries(samples).map(([k, ms]) => [k, medianOf(ms)])), coherence };
  } finally {
    await Promise.all([hitProxy.stop(), missProxy.stop(), passwordProxy.stop(), baseHit?.stop(), baseMiss?.stop(), bare.stop(), twemproxy?.stop()]);
  }
}

async function memory(notes: string[]) {
  const redis = await startRedis();
  const key = (i: number) => `m:${String(i).padStart(14, '0')}`; // 16 bytes
  try {
    const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await redis.client.info('memory'))![1]);
    const redisBefore = await usedMemory();
    await loadKeys(redis.client, MEMORY_KEYS, key);
    const redisPerKey = ((await usedMemory()) - redisBefore) / MEMORY_KEYS;

    const proxy = await startBenchProxy(redis, { CACHE_CAPACITY: String(MEMORY_KEYS), CACHE_EXPIRY: '86400' });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const empty = rssBytes(proxy.child.pid!);
      const redisLoaded = await usedMemory();
      const cached = await warm(proxy.respPort, MEMORY_KEYS, key);
      if (cached !== MEMORY_KEYS) throw new Error(`cached ${cached} of ${MEMORY_KEYS} keys`);
      // What tracking costs Redis: its table of the keys the proxy read.
      const trackingKeys = Number(/^tracking_total_keys:(\d+)/m.exec(await redis.client.info('stats'))![1]);
      const redisTrackingPerKey = ((await usedMemory()) - redisLoaded) / MEMORY_KEYS;
      await new Promise((r) => setTimeout(r, 3000));
      const full = rssBytes(proxy.child.pid!);
      notes.push(`memory: proxy RSS ${(empty / 2 ** 20).toFixed(0)} MiB empty, ${(full / 2 ** 20).toFixed(0)} MiB with ${MEMORY_KEYS} entries.`);
      return { proxyPerEntry: (full - empty) / MEMORY_KEYS, redisPerKey, trackingKeys, redisTrackingPerKey };
    } finally {
      await proxy.stop();
    }
  } finally {
    await redis.close();
  }
}

async function main() {
  for (const tool of ['redis-server', 'redis-benchmark']) {
    if (!hasCommand(tool)) {
      console.error(`npm run bench needs ${tool}: apt-get install redis-server redis-tools (and nutcracker for the twemproxy column)`);
      process.exit(2);
    }
  }
  const notes: string[] = [];
  const startedAt = new Date();
  const redis = await startRedis();
  let medians = {};
  let coherence: InvalidationDelay | undefined;
  try {
    await loadKeys(redis.client, KEYSPACE, benchKey);
    if (ONLY === 'tls' || ONLY === 'workers') {
      const samples: Record<string, Measurement[]> = {};
      const add: AddSample = (key, m) => (samples[key] ??= []).push(m);
      await (ONLY === 'tls' ? overTls(add, notes) : workers(redis, add, notes));
      medians = Object.fromEntries(Object.entries(samples).map(([k, ms]) => [k, medianOf(ms)]));
    } else if (ONLY === 'cluster') {
      const samples: Record<string, Measurement[]> = {};
      await clusterPhase((key, m) => (samples[key] ??= []).push(m), notes, { rounds: ROUNDS, scale: SCALE, log });
      medians = Object.fromEntries(Object.entries(samples).map(([k, ms]) => [k, medianOf(ms)]));
    } else if (ONLY !== 'memory') ({ medians, coherence } = await throughput(redis, notes));
  } finally {
    await redis.close();
  }
  const mem =
    ONLY === 'throughput' || ONLY === 'tls' || ONLY === 'cluster' || ONLY === 'workers'
      ? { proxyPerEntry: NaN, redisPerKey: NaN, trackingKeys: NaN, redisTrackingPerKey: NaN }
      : await memory(notes);
  const results: BenchResults = {
    startedAt: startedAt.toISOString(),
    command: 'npm run bench',
    rounds: ROUNDS,
    scale: SCALE,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    node: process.version,
    medians,
    coherence,
    memory: mem,
    notes,
  };
  printTable(results);
  const saved = saveResults(results);
  // A partial run does not replace the published table.
  const published = !ONLY && !BASELINE && SCALE === 1;
  if (published) updateBenchmarksMd(results);
  log(`\nresults: ${saved}.json and .svg${published ? '; BENCHMARKS.md and bench/chart.svg updated' : ''}`);
}

await main();
