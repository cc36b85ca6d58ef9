// Owns presenting a benchmark run: the console table, the JSON and chart under bench/results/, and BENCHMARKS.md with its chart.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderChart } from './chart.ts';
import { measuredWorkloads } from './series.ts';
import type { InvalidationDelay } from './invalidation-delay.ts';
import type { Measurement } from './workloads.ts';

export interface BenchResults {
  startedAt: string;
  command: string;
  rounds: number;
  scale: number;
  machine: string;
  node: string;
  /** Median of the rounds, by `target/P<pipeline>` for RESP and by target name for HTTP. */
  medians: Record<string, Measurement>;
  /** The invalidation delay, when throughput was measured. */
  coherence?: InvalidationDelay;
  memory: { proxyPerEntry: number; redisPerKey: number; trackingKeys: number; redisTrackingPerKey: number };
  notes: string[];
}

interface Goal {
  figure: string;
  ratio: number | undefined;
  target: string;
  met: boolean | undefined;
}

const ROOT = resolve(import.meta.dirname, '..');
const fmt = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits));

function goals(r: BenchResults): Goal[] {
  const m = r.medians;
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a / b);
  const atLeast = (figure: string, value: number | undefined, min: number): Goal => ({
    figure,
    ratio: value,
    target: `≥ ${min.toFixed(1)}`,
    met: value === undefined ? undefined : value >= min,
  });
  const atMost = (figure: string, value: number | undefined, max: number): Goal => ({
    figure,
    ratio: value,
    target: `≤ ${max.toFixed(1)}`,
    met: value === undefined ? undefined : value <= max,
  });
  /** A figure shown without a goal: none has been set for it yet. */
  const reported = (figure: string, value: number | undefined): Goal => ({ figure, ratio: value, target: 'none set', met: undefined });
  const twem = (k: string) => m[`twemproxy/${k}`];
  const direct = (target: string, k: string) => ratio(m[`${target}/${k}`]?.rps, m[`redis/${k}`]?.rps);
  return [
    atLeast('hit P1 req/s ÷ twemproxy', ratio(m['proxy-hit/P1']?.rps, twem('P1')?.rps), 1.0),
    atLeast('hit P16 req/s ÷ twemproxy', ratio(m['proxy-hit/P16']?.rps, twem('P16')?.rps), 1.0),
    atMost('hit P1 p99 latency ÷ twemproxy', ratio(m['proxy-hit/P1']?.p99, twem('P1')?.p99), 1.0),
    atLeast('miss P1 req/s ÷ twemproxy', ratio(m['proxy-miss/P1']?.rps, twem('P1')?.rps), 0.8),
    atLeast('miss P16 req/s ÷ twemproxy', ratio(m['proxy-miss/P16']?.rps, twem('P16')?.rps), 0.8),
    atLeast('forwarded SET P1 req/s ÷ twemproxy', ratio(m['proxy-hit/SET-P1']?.rps, twem('SET-P1')?.rps), 1.0),
    atLeast('forwarded SET P16 req/s ÷ twemproxy', ratio(m['proxy-hit/SET-P16']?.rps, twem('SET-P16')?.rps), 1.0),
    atLeast('HGETALL hit P16 req/s ÷ twemproxy', ratio(m['proxy-hit/HGETALL-P16']?.rps, twem('HGETALL-P16')?.rps), 1.0),
    atLeast('write-heavy reads req/s ÷ twemproxy', ratio(m['proxy-hit/write-heavy']?.rps, twem('write-heavy')?.rps), 1.0),
    atMost('invalidation delay max, ms', r.coherence?.max, 100),
    ...(m['base-hit/P1']
      ? [
          atLeast('hit P1 req/s ÷ base-hit', ratio(m['proxy-hit/P1']?.rps, m['base-hit/P1']?.rps), 0.95),
          atLeast('hit P16 req/s ÷ base-hit', ratio(m['proxy-hit/P16']?.rps, m['base-hit/P16']?.rps), 0.95),
        ]
      : []),
    atLeast('GET P1 with 50 blocked clients ÷ without', ratio(m['proxy-hit/P1-blocked']?.rps, m['proxy-hit/P1-unblocked']?.rps), 0.9),
    atLeast('GET P1 with PROXY_PASSWORD ÷ without', ratio(m['proxy-hit/P1-password']?.rps, m['proxy-hit/P1-no-password']?.rps), 0.9),
    reported('cluster hit GET P1 req/s ÷ redis-benchmark --cluster direct', direct('proxy-hit', 'CLUSTER-P1')),
    reported('cluster hit GET P16 req/s ÷ redis-benchmark --cluster direct', direct('proxy-hit', 'CLUSTER-P16')),
    reported('cluster miss GET P1 req/s ÷ direct', direct('proxy-miss', 'CLUSTER-P1')),
    reported('cluster miss GET P16 req/s ÷ direct', direct('proxy-miss', 'CLUSTER-P16')),
    atLeast('hit GET P16 WORKERS=2 ÷ WORKERS=1', ratio(m['workers-2/P16']?.rps, m['workers-1/P16']?.rps), 1.0),
    atLeast('HTTP hit req/s ÷ bare node:http', ratio(m['proxy-http']?.rps, m['bare-node-http']?.rps), 0.6),
    atMost('memory per entry ÷ Redis bytes per key', r.memory.proxyPerEntry / r.memory.redisPerKey, 2.0),
  ];
}

function measurementRows(r: BenchResults): string[][] {
  return measuredWorkloads(r.medians).flatMap(({ workload, http, runs }) => {
    const reference = (target: string) => runs.find((run) => run.target === target)?.m;
    const [twem, redis, bare] = [reference('twemproxy'), reference('redis'), reference('bare-node-http')];
    return runs.map(({ target, m }) => [
      workload,
      target,
      fmt(m.rps, 0),
      fmt(m.p50, 3),
      fmt(m.p99, 3),
      ...(http ? ['', `${fmt(bare && m.rps / bare.rps)} × bare`] : [fmt(twem && m.rps / twem.rps), fmt(redis && m.rps / redis.rps)]),
    ]);
  });
}

function markdownTable(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function render(r: BenchResults): string {
  const measured = markdownTable(['workload', 'target', 'req/s', 'p50 ms', 'p99 ms', '× twemproxy', '× redis'], measurementRows(r));
  const memory = markdownTable(
    ['memory', 'bytes per entry'],
    [
      ['proxy RSS growth ÷ entries', fmt(r.memory.proxyPerEntry, 0)],
      ['Redis used_memory growth ÷ keys', fmt(r.memory.redisPerKey, 0)],
      [`Redis tracking table growth ÷ cached keys (tracking_total_keys ${fmt(r.memory.trackingKeys, 0)})`, fmt(r.memory.redisTrackingPerKey, 0)],
    ],
  );
  const coherence = r.coherence
    ? markdownTable(
        ['invalidation delay', 'writes', 'p50 ms', 'p99 ms', 'max ms', 'seen at the first read'],
        [
          [
            'SET on Redis → first read through the proxy that sees it',
            String(r.coherence.writes),
            fmt(r.coherence.p50, 3),
            fmt(r.coherence.p99, 3),
            fmt(r.coherence.max, 3),
            `${fmt((100 * r.coherence.seenAtFirstRead) / r.coherence.writes, 1)}%`,
          ],
        ],
      )
    : '';
  const targets = markdownTable(
    ['figure', 'measured', 'target', 'met'],
    goals(r).map((g) => [g.figure, fmt(g.ratio), g.target, g.ratio === undefined ? 'not measured' : g.met === undefined ? '—' : g.met ? 'yes' : 'no']),
  );
  return [
    `Run ${r.startedAt} with \`${r.command}\` (${r.rounds} rounds, medians; scale ${r.scale}) on ${r.machine}, Node ${r.node}.`,
    '',
    measured,
    '',
    ...(coherence ? [coherence, ''] : []),
    memory,
    '',
    targets,
    '',
    ...r.notes.map((n) => `- ${n}`),
  ].join('\n');
}

export function printTable(r: BenchResults): void {
  process.stdout.write(`\n${render(r)}\n`);
}

/** Writes bench/results/<startedAt>.json and .svg; returns their paths without the extension. */
export function saveResults(r: BenchResults): string {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stem = join(dir, r.startedAt.replaceAll(':', '-'));
  writeFileSync(`${stem}.json`, `${JSON.stringify({ ...r, goals: goals(r) }, null, 2)}\n`);
  writeFileSync(`${stem}.svg`, renderChart(r));
  return stem;
}

/** Rewrites BENCHMARKS.md and the bench/chart.svg it shows. */
export function updateBenchmarksMd(r: BenchResults): void {
  writeFileSync(join(ROOT, 'bench', 'chart.svg'), renderChart(r));
  const text = `# Benchmarks

\`npm run bench\` starts a private redis-server, twemproxy (nutcracker) in front of it, and the
proxy through its real entrypoint, all on free loopback ports; loads 10 000 keys with 100-byte
values; warms every target up (50 000 requests each, not counted); and runs each workload against
each target, alternating the order, ${r.rounds} rounds, reporting the median. Figures are ratios against references measured in the same run, because
the machines are shared and noisy. Raw results and their charts go to \`bench/results/\` (not committed);
the chart of the latest run is \`bench/chart.svg\`.

- **GET P1 / P16**: \`redis-benchmark -c 50 -r 10000 -t get -P 1|16\`. \`proxy-hit\` has every key
  cached (capacity 20 000, expiry 1 day); \`proxy-miss\` has capacity 1, so nearly every read
  goes to Redis: that measures the forwarding path.
- **HTTP GET**: 50 connections (wrk when installed, else autocannon) on \`/query?key=<random key>\`,
  against a minimal node:http server answering a constant 100-byte body (the Node HTTP ceiling).
- **memory**: RSS growth of a proxy holding 1 000 000 entries (16-byte keys, 100-byte values),
  per entry, next to Redis's \`used_memory\` growth per key for the same data, and what tracking
  costs Redis: its \`used_memory\` growth while the proxy reads (and so Redis tracks) those keys.
- **invalidation delay**: 10 000 times, a key cached by the proxy is \`SET\` straight on Redis and
  read back through the proxy, back to back, until the new value comes; the time from sending the
  \`SET\` to that reply, while 10 other connections keep reading through the proxy
  (bench/invalidation-delay.ts).
- **GET P1 / P16, Redis Cluster**: a 3-master cluster (no replicas); \`redis\` is
  \`redis-benchmark --cluster -c 50 -r 10000 -t get\` straight at it, \`proxy-hit\` and \`proxy-miss\`
  plain \`redis-benchmark\` through proxies with \`REDIS_CLUSTER_NODES\` (every key cached, or capacity 1).
- **WRITE-HEAVY 50/50 reads**: half the requests \`SET\`s straight on Redis, half \`GET\`s through the
  target, on the same 10 000 keys; the reads' figures, and the share the proxy still answered from
  its cache.

Rerun: \`npm run bench\` (needs redis-server, redis-tools, and nutcracker for the twemproxy column).
\`BENCH_ONLY=throughput|memory|tls|cluster|workers\` and \`BENCH_SCALE=0.2\` give a quick partial look without touching this file.

## Latest run

![req/s and p99 latency per target for GET P1, GET P16 and HTTP GET](bench/chart.svg)

${render(r)}

## What the profiles showed (2026-11-25, same machine)

Measured with \`node --cpu-prof\`, allocation sampling through the inspector (including collected
objects), and alternating redis-benchmark rounds:

- **Misses**: ioredis's per-command work and async-mutex's O(MAX_PARALLEL) release dominated; the
  pipelined backend connection and O(1) slots took miss P16 from 0.30× to ~1.0× twemproxy.
- **Memory**: values as latin1 strings instead of Buffers, less garbage per miss, and a young
  generation capped at 16 MiB per semi-space (\`npm start\` passes \`--max-semi-space-size=16\`; left
  alone, V8 grew it to 64 MiB under the loading burst and kept it) took RSS per entry at 1 000 000
  entries from ~860 bytes (4.3× Redis) to ~300. Live data is ~220 bytes per entry (key 32, value
  120, Map entry ~28, lru-cache's arrays 40); the rest is V8's heap headroom.
- **Hit P1 p99**: Node gives every socket read a new ArrayBuffer, and V8 frees them inside its
  scavenge pauses. \`--trace-gc-nvp\` showed \`scavenge.sweep_array_buffers\` at ~0.7 ms of a ~0.9 ms
  pause, one pause every ~80 ms under load, and p99 at 1.05–1.33× twemproxy across runs. Client
  sockets now read into one reused buffer (\`onread\`, src/server/reused-read-buffer.ts). The sweep
  fell to ~0.03 ms and pauses to ~0.3 ms. In 7 alternating redis-benchmark rounds p99 went from
  0.88 to 0.61 ms, against twemproxy's 0.73. What is left is Node's own floor: a bare node:net
  server reading into a reused buffer and answering a constant reply had a p99 of 0.59 ms, the
  proxy 0.68 and twemproxy 0.78 in the same run. Four full runs since gave 0.96, 1.00, 0.93
  and 0.89×. The target is met, but by little. The proxy's p50 is about half of twemproxy's, but its
  p99 is about 2.5× its own p50, where twemproxy's is 1.5×. That tail is Node's: its write path
  allocates ~400 bytes per reply, and scavenges still pause for ~0.3 ms. Rejected on the way: a 1 MiB young generation
  (p99 ~1.0× but memory 2.3× Redis), and single-threaded or non-parallel scavenges (pauses 0.1 ms
  shorter here, but tuned to a 2-core machine).
`;
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), text);
}
