// Owns starting the proxy for end-to-end tests as a child process, through the same entrypoint as `npm start`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { ExecutionContext } from 'ava';
import { startRedis, type TestRedis } from './redis-server.ts';
import { waitForOutput } from './tools.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * `npm start`'s command, word by word, with paths made absolute: the tests run exactly what users run
 * (Node's flags included), from any working directory.
 */
function startCommand(root: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  // `exec` only makes the shell npm runs the script in give way to node, so that npm's signals reach node.
  if (words[0] === 'exec') words.shift();
  if (words[0] !== 'node') throw new Error(`npm start should run node, not ${words[0]}`);
  return words.slice(1).map((w) => (w.startsWith('-') ? w : resolve(root, w)));
}
const START_COMMAND: readonly string[] = startCommand(ROOT);

export interface ProxyProcess {
  readonly httpPort: number;
  readonly respPort: number;
  readonly child: ChildProcess;
  /** Everything the proxy has logged so far. */
  output(): string;
  /** GET http://127.0.0.1:httpPort{path}. */
  http(path: string, init?: RequestInit): Promise<Response>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface RunOptions {
  /** Settings passed as environment variables (e.g. { CACHE_EXPIRY: '0.5' }). */
  env?: Record<string, string>;
  args?: string[];
  /** Contents of a .config file written into the proxy's working directory. */
  configFile?: string;
  /** Another checkout of the proxy to run instead of this one (the benchmark's baseline). */
  root?: string;
  /** The node binary to run it with; default the one running the tests. */
  node?: string;
  /**
   * Start it as users do, with `npm start` in the checkout (so its .config applies, under `env`, unless
   * `configFile` is given), rather than npm start's command; `node` then comes first on npm's PATH.
   */
  npm?: boolean;
}

/**
 * Runs the entrypoint to completion (for config errors and --help): exit code and output. A proxy
 * that starts serving instead of exiting is killed after `timeoutMs` and reported with code null.
 */
export async function runProxyCommand(options: RunOptions = {}, timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child, cleanup } = spawnProxy(options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearTimeout(timer);
  cleanup();
  return { code, stdout, stderr };
}

function spawnProxy({ env = {}, args = [], configFile, root, node = process.execPath, npm = false }: RunOptions) {
  const cwd = mkdtempSync(join(tmpdir(), 'rcp-proxy-'));
  if (configFile !== undefined) writeFileSync(join(cwd, '.config'), configFile);
  const cleanup = () => rmSync(cwd, { recursive: true, force: true });
  if (npm) {
    const config = configFile !== undefined ? ['--config', join(cwd, '.config')] : [];
    const child = spawn('npm', ['start', '--', ...config, ...args], {
      cwd: root ?? ROOT,
      env: { PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? cwd, PROXY_PORT: '0', RESP_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { child, cleanup };
  }
  const child = spawn(node, [...(root ? startCommand(root) : START_COMMAND), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PROXY_PORT: '0', RESP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, cleanup };
}

/** Starts the proxy on free ports and waits for its "listening" line. */
export async function startProxy(options: RunOptions = {}): Promise<ProxyProcess> {
  const { child, cleanup } = spawnProxy(options);
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  exited.then(cleanup);

  const listening = await waitForOutput(child, /listening http=\S+:(\d+) resp=\S+:(\d+)/, 'the proxy');
  const ports = { http: Number(listening[1]), resp: Number(listening[2]) };

  return {
    httpPort: ports.http,
    respPort: ports.resp,
    child,
    output: () => log,
    http: (path, init) => fetch(`http://127.0.0.1:${ports.http}${path}`, init),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

/** Settings that point the proxy at a test Redis. */
export const backendEnv = (redis: { host: string; port: number }): Record<string, string> => ({
  REDIS_HOST: redis.host,
  REDIS_PORT: String(redis.port),
});

/** A fresh Redis and the proxy in front of it with `env` on top; both are closed when test `t` ends. */
export async function startRedisAndProxy(t: ExecutionContext, env: Record<string, string> = {}): Promise<{ redis: TestRedis; proxy: ProxyProcess }> {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const proxy = await startProxy({ env: { ...backendEnv(redis), ...env } });
  t.teardown(() => proxy.stop());
  return { redis, proxy };
}
