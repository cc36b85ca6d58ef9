// Owns the benchmark's servers: a private Redis, twemproxy in front of it, the proxy (and warming its cache), and a bare node:http server.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { backendEnv, startProxy, type ProxyProcess } from '../test/helpers/proxy-process.ts';
import { freePort, startRedis, waitForPort, type TestRedis } from '../test/helpers/redis-server.ts';
import { hasCommand, waitForOutput } from '../test/helpers/tools.ts';

export { hasCommand, startRedis, type TestRedis };

export interface Server {
  readonly port: number;
  stop(): Promise<void>;
}

const stopChild = (child: ChildProcess) => async () => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
};

/** twemproxy (nutcracker) with one connection to `redis`; null when nutcracker is not installed. */
export async function startTwemproxy(redis: TestRedis): Promise<Server | null> {
  if (!hasCommand('nutcracker')) return null;
  const dir = mkdtempSync(join(tmpdir(), 'rcp-twem-'));
  const port = await freePort();
  const statsPort = await freePort();
  const conf = join(dir, 'nutcracker.yml');
  writeFileSync(
    conf,
    [
      'bench:',
      `  listen: 127.0.0.1:${port}`,
      '  redis: true',
      '  hash: fnv1a_64',
      '  distribution: ketama',
      '  preconnect: true',
      '  server_connections: 1',
      '  auto_eject_hosts: false',
      '  servers:',
      `   - 127.0.0.1:${redis.port}:1`,
      '',
    ].join('\n'),
  );
  const child = spawn('nutcracker', ['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(dir, 'nutcracker.log')], { stdio: 'ignore' });
  try {
    await waitForPort(port, true);
  } catch (err) {
    throw new Error(`nutcracker did not open port ${port}: ${(err as Error).message}\n${readFileSync(join(dir, 'nutcracker.log'), 'utf8')}`, { cause: err });
  }
  return { port, stop: stopChild(child) };
}

/** The proxy through its real entrypoint, in front of `redis`; from another checkout when `root` is given. */
export async function startBenchProxy(redis: TestRedis, env: Record<string, string>, root?: string): Promise<ProxyProcess> {
  return startProxy({ env: { ...backendEnv(redis), ...env }, root });
}

/** The Node HTTP ceiling: a minimal node:http server answering a constant body. */
export async function startBareHttpServer(): Promise<Server> {
  const child = spawn(process.execPath, [resolve(import.meta.dirname, 'bare-http-server.ts')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const m = await waitForOutput(child, /listening (\d+)/, 'bare http server');
  return { port: Number(m[1]), stop: stopChild(child) };
}

/** Resident set size of a process, in bytes (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

/** Reads every key once through `port` so it is cached; returns the proxy's cache size. */
export async function warm(port: number, count: number, key: (i: number) => string, password?: string): Promise<number> {
  const client = new Redis({ port, protocol: 2, password });
  const batches: Promise<unknown>[] = [];
  for (let start = 0; start < count; start += 500) {
    batches.push(client.mgetBuffer(...Array.from({ length: Math.min(500, count - start) }, (_, j) => key(start + j))));
    if (batches.length >= 8) await Promise.all(batches.splice(0));
  }
  await Promise.all(batches);
  const entries = Number(/^cache_entries:(\d+)/m.exec(await client.info('cache'))![1]);
  client.disconnect();
  return entries;
}
