// Owns running one measurement: redis-benchmark against a RESP port, wrk or autocannon against an HTTP URL.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as runTool } from '../test/helpers/tools.ts';
import { hasCommand } from './targets.ts';

export interface Measurement {
  /** Requests per second. */
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
}

export const KEYSPACE = 10_000;
/** redis-benchmark's `-r` keys: key:000000000000 … key:000000009999. */
export const benchKey = (i: number) => `key:${String(i).padStart(12, '0')}`;
const MIXED_LOAD = join(import.meta.dirname, 'mixed-load.ts');

/** Runs a load generator to the end; its standard output, or an error with what it printed. */
async function run(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await runTool(command, args, '', 10 * 60_000);
  if (code !== 0) throw new Error(`${command} exited ${code}: ${stderr || stdout}`);
  return stdout;
}

/**
 * `redis-benchmark -t get` (or `set`) over the benchmark keyspace with 50 clients; over TLS when `tls` names the CA to trust, logging in when
 * `password` is given; with `cluster`, against the Redis Cluster `port` is a node of (`--cluster`: keys key:{tag}:<n>, a tag for each master).
 */
export async function redisBenchmark(
  port: number,
  pipeline: number,
  requests: number,
  test: 'get' | 'set' = 'get',
  options: { tls?: { cacert: string }; password?: string; cluster?: boolean; dataSize?: number } = {},
): Promise<Measurement> {
  const { tls, password, cluster, dataSize } = options;
  // -a: each of its connections sends AUTH first, as a client of a proxy with PROXY_PASSWORD does.
  return benchmark(port, pipeline, requests, KEYSPACE, [
    ...(tls ? ['--tls', '--cacert', tls.cacert] : []),
    ...(password === undefined ? [] : ['-a', password]),
    ...(cluster ? ['--cluster'] : []),
    ...(dataSize === undefined ? [] : ['-d', String(dataSize)]),
    '-t',
    test,
  ]);
}

/** redis-benchmark with 50 clients running one command (`__rand_int__` in it ranges over `keyspace`). */
export async function redisBenchmarkCommand(port: number, pipeline: number, requests: number, keyspace: number, command: string[]): Promise<Measurement> {
  return benchmark(port, pipeline, requests, keyspace, command);
}

async function benchmark(port: number, pipeline: number, requests: number, keyspace: number, what: string[]): Promise<Measurement> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-c', '50', '-n', String(requests), '-r', String(keyspace), '-P', String(pipeline), '--csv'];
  const out = await run('redis-benchmark', [...args, ...what]);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms", then one row.
  const row = out
    .trim()
    .split('\n')
    .find((l) => l.startsWith('"') && !l.startsWith('"test"'));
  if (!row) throw new Error(`unexpected redis-benchmark output:\n${out}`);
  const cells = row.split('","').map((c) => Number(c.replaceAll('"', '')));
  return { rps: cells[1]!, p50: cells[4]!, p99: cells[6]! };
}

/** HTTP GETs for 50 connections over `seconds`; `randomKeys` spreads them over the benchmark keyspace. */
export async function httpLoad(port: number, randomKeys: boolean, seconds: number): Promise<Measurement & { tool: string }> {
  if (hasCommand('wrk')) return { ...(await wrk(port, randomKeys, seconds)), tool: 'wrk' };
  return { ...(await autocannon(port, randomKeys, seconds)), tool: 'autocannon' };
}

async function wrk(port: number, randomKeys: boolean, seconds: number): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), 'rcp-wrk-'));
  const script = join(dir, 'keys.lua');
  writeFileSync(
    script,
    randomKeys
      ? `request = function() return wrk.format(nil, string.format("/query?key=key:%012d", math.random(0, ${KEYSPACE - 1}))) end\n`
      : 'request = function() return wrk.format(nil, "/") end\n',
  );
  const out = await run('wrk', ['-t', '1', '-c', '50', '-d', `${seconds}s`, '--latency', '-s', script, `http://127.0.0.1:${port}/`]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
  const percentile = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out)!;
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]!]!;
  };
  if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk saw error responses:\n${out}`);
  return { rps, p50: percentile('50'), p99: percentile('99') };
}

async function autocannon(port: number, randomKeys: boolean, seconds: number): Promise<Measurement> {
  const { default: run } = await import('autocannon');
  const result = await run({
    url: `http://127.0.0.1:${port}`,
    connections: 50,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({
          ...req,
          path: randomKeys ? `/query?key=${benchKey(Math.floor(Math.random() * KEYSPACE))}` : '/',
        }),
      },
    ],
  });
  if (result.non2xx > 0) throw new Error(`autocannon saw ${result.non2xx} error responses`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/** 50 connections, 90% GET and 10% SET, one request in flight each, for `seconds` (bench/mixed-load.ts, its own process). */
export async function mixedLoad(port: number, seconds: number): Promise<Measurement> {
  return (await mixedLoadProcess([port, seconds, 50, 0.9, KEYSPACE])).all;
}

/** 50 connections, half GETs through `readPort`, half SETs straight to `writePort`, on the same keys: the reads' figures. */
export async function writeHeavyLoad(readPort: number, writePort: number, seconds: number): Promise<Measurement> {
  return (await mixedLoadProcess([readPort, seconds, 50, 0.5, KEYSPACE, writePort])).reads;
}

async function mixedLoadProcess(args: number[]): Promise<{ all: Measurement; reads: Measurement }> {
  const out = await run(process.execPath, [MIXED_LOAD, ...args.map(String)]);
  const { errors, reads, ...all } = JSON.parse(out) as Measurement & { reads: Measurement; errors: number };
  if (errors > 0) throw new Error(`the mixed load saw ${errors} error replies`);
  return { all, reads };
}

/** GETs over the keyspace through `port` from `connections` connections until stopped: a background load. */
export function backgroundReads(port: number, connections: number): { stop(): Promise<void> } {
  const child = spawn(process.execPath, [MIXED_LOAD, String(port), '3600', String(connections), '1', String(KEYSPACE)], { stdio: 'ignore' });
  return {
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
