// Owns the proxy for end-to-end tests: a child process through the same entrypoint as `npm start`, or the running one TEST_PROXY_* name.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { EXTERNAL, type Address, type ExternalTarget } from './external.ts';
import type { TestCluster } from './redis-cluster.ts';
import { freePort, startRedis, type TestRedis, waitForPort } from './redis-server.ts';
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

/** The proxy a test talks to: one it started, or an external one. */
export interface TestProxy {
  /** Where the Redis-protocol port listens: for ioredis, net.connect and connectRaw. */
  readonly respAddress: Address;
  readonly httpAddress: Address;
  /** GET http://{httpAddress}{path}. */
  http(path: string, init?: RequestInit): Promise<Response>;
  /** Whether it still runs: its process has not exited, or (external) its Redis-protocol port answers PING. */
  running(): Promise<boolean>;
  /** Done with it: stops a proxy started here; an external one keeps running. */
  close(): Promise<void>;
}

/** A proxy started here, on 127.0.0.1. */
export interface ProxyProcess extends TestProxy {
  readonly httpPort: number;
  readonly respPort: number;
  readonly child: ChildProcess;
  /** Everything the proxy has printed so far (stdout and stderr). */
  output(): string;
  /** Its stderr so far as log lines (JSON, as the proxy writes them when stderr is not a terminal); throws on a line that is not JSON. */
  logs(): LogLine[];
  /** Resolves with the first log line that `match` accepts, waiting up to `timeoutMs` for it. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** One line of the proxy's JSON log: pino's fields and the event's own. */
export interface LogLine {
  level: string;
  time: string;
  msg: string;
  event?: string;
  [field: string]: unknown;
}

/** Every complete line of `text` parsed as JSON; a line that is not JSON throws, naming it. */
export function parseLogLines(text: string): LogLine[] {
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        throw new Error(`not a JSON log line: ${JSON.stringify(line)}`);
      }
    });
}

export interface RunOptions {
  /** Settings passed as environment variables (e.g. { CACHE_EXPIRY: '0.5' }). */
  env?: Record<string, string>;
  args?: string[];
  /** Contents of a .config file written into the proxy's working directory. */
  configFile?: string;
  /** Another checkout of the proxy to run instead of this one (the benchmark's baseline). */
  root?: string;
  /**
   * For a LOG_LEVEL that hides the "listening" line: free ports are picked here, and startProxy
   * waits for them to accept connections instead.
   */
  quiet?: boolean;
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
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  // 'close', not 'exit': only then has all of its output been read.
  const code = await new Promise<number | null>((r) => child.once('close', r));
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

/** How long close() waits for the proxy to exit on SIGTERM before it kills it. */
const CLOSE_GRACE_MS = 3000;

/** Starts the proxy on free ports and waits for its "listening" line. */
export async function startProxy(options: RunOptions = {}): Promise<ProxyProcess> {
  if (EXTERNAL) throw new Error('startProxy() starts a proxy of its own: declare the test with localOnly(), or use proxyUnderTest()');
  const picked = options.quiet ? { http: await freePort(), resp: await freePort() } : undefined;
  if (picked) options = { ...options, env: { ...options.env, PROXY_PORT: String(picked.http), RESP_PORT: String(picked.resp) } };
  const { child, cleanup } = spawnProxy(options);
  let log = '';
  let stderr = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => {
    log += d;
    stderr += d;
  });
  // 'close', not 'exit', so that output() and logs() hold every line once stop() resolves.
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  void exited.then(cleanup);

  let ports: { http: number; resp: number };
  if (picked) {
    const early = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`the proxy exited with code ${code}:\n${log}`))));
    early.catch(() => {});
    await Promise.race([Promise.all([waitForPort(picked.http, true), waitForPort(picked.resp, true)]), early]);
    ports = picked;
  } else {
    // The message's words, found in a JSON line's "msg" or a pretty line alike.
    // https= with HTTP_TLS=yes; resp=off with RESP_PORT=off: respPort is then 0.
    const listening = await waitForOutput(child, /listening https?=\S+:(\d+) resp=(?:\S+:(\d+)|off)/, 'the proxy');
    ports = { http: Number(listening[1]), resp: Number(listening[2] ?? 0) };
  }

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    return exited;
  };
  /** Stops it; one stuck past the grace (a hung event loop cannot run its SIGTERM handler) is killed. */
  const close = async () => {
    const killer = setTimeout(() => child.kill('SIGKILL'), CLOSE_GRACE_MS);
    await stop();
    clearTimeout(killer);
  };
  return {
    httpPort: ports.http,
    respPort: ports.resp,
    respAddress: { host: '127.0.0.1', port: ports.resp },
    httpAddress: { host: '127.0.0.1', port: ports.http },
    child,
    output: () => log,
    logs: () => parseLogLines(stderr),
    async waitForLog(match, what, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = parseLogLines(stderr).find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no log line for ${what} within ${timeoutMs} ms; the proxy logged:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    http: (path, init) => fetch(`http://127.0.0.1:${ports.http}${path}`, init),
    running: () => Promise.resolve(child.exitCode === null && child.signalCode === null),
    stop,
    close,
  };
}

/** Whether `address` answers PING with +PONG within `timeoutMs`. */
function answersPing({ host, port }: Address, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let received = '';
    const done = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      received += d.toString('latin1');
      if (received.includes('\r\n')) done(received === '+PONG\r\n');
    });
    socket.once('error', () => done(false));
  });
}

function externalProxy({ resp, http }: ExternalTarget): TestProxy {
  // Brackets around an IPv6 address, as URLs need them.
  const httpHost = http.host.includes(':') ? `[${http.host}]` : http.host;
  return {
    respAddress: resp,
    httpAddress: http,
    http: (path, init) => fetch(`http://${httpHost}:${http.port}${path}`, init),
    running: () => answersPing(resp),
    async close() {},
  };
}

/**
 * The proxy under test in front of `redis`: the external one when TEST_PROXY_RESP and TEST_PROXY_HTTP name
 * it (then `redis` is TEST_REDIS_URL's), else one started here with its default settings.
 */
export async function proxyUnderTest(redis: TestRedis): Promise<TestProxy> {
  return EXTERNAL ? externalProxy(EXTERNAL) : startProxy({ env: backendEnv(redis) });
}

/** Settings that point the proxy at a test Redis. */
export const backendEnv = (redis: { host: string; port: number }): Record<string, string> => ({
  REDIS_HOST: redis.host,
  REDIS_PORT: String(redis.port),
});

/** The Redis and proxy under test (see proxyUnderTest), closed when test `t` ends. */
export async function redisAndProxyUnderTest(t: ExecutionContext): Promise<{ redis: TestRedis; proxy: TestProxy }> {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const proxy = await proxyUnderTest(redis);
  t.teardown(() => proxy.close());
  return { redis, proxy };
}

/** A fresh Redis and the proxy in front of it with `env` on top; both are closed when test `t` ends. */
export async function startRedisAndProxy(t: ExecutionContext, env: Record<string, string> = {}): Promise<{ redis: TestRedis; proxy: ProxyProcess }> {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const proxy = await startProxy({ env: { ...backendEnv(redis), ...env } });
  t.teardown(() => proxy.stop());
  return { redis, proxy };
}

/** startClusterProxy's proxy did not write to the cluster it was given: it does not know REDIS_CLUSTER_NODES. */
export class NotInFrontOfCluster extends Error {}

/**
 * The proxy in front of `cluster` (REDIS_CLUSTER_NODES) with `env` on top. One key written through it must then
 * be in the cluster, before a test runs anything against it: a proxy that ignored REDIS_CLUSTER_NODES would
 * talk to 127.0.0.1:6379, and a test's FLUSHALL would empty whatever Redis listens there.
 */
export async function startClusterProxy(cluster: TestCluster, env: Record<string, string> = {}): Promise<ProxyProcess> {
  const proxy = await startProxy({ env: { REDIS_CLUSTER_NODES: cluster.seeds, ...env } });
  const probe = `cluster-probe:${process.pid}:${proxy.respPort}`;
  const through = new Redis({ port: proxy.respPort, protocol: 2, maxRetriesPerRequest: 0, lazyConnect: true });
  through.on('error', () => {});
  const direct = cluster.client();
  try {
    const written = await through.set(probe, 'here').catch((err: Error) => err.message);
    if (written !== 'OK' || (await direct.get(probe)) !== 'here') {
      await proxy.close();
      throw new NotInFrontOfCluster(`a SET through the proxy (${written}) did not reach the cluster: does it know REDIS_CLUSTER_NODES?`);
    }
    await direct.del(probe);
    return proxy;
  } finally {
    through.disconnect();
    direct.disconnect();
  }
}
