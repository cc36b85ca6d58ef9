// Owns the backing Redis for tests: a throwaway one (local redis-server, else testcontainers'), or the running one TEST_REDIS_URL names.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { EXTERNAL } from './external.ts';
import type { CertFiles } from './tls-certs.ts';
import { hasCommand } from './tools.ts';

export interface TestRedis {
  readonly host: string;
  readonly port: number;
  /** A direct client (RESP2) for seeding data and reading INFO. */
  readonly client: Redis;
  /** keyspace_hits + keyspace_misses from INFO stats, less PTTL calls: every key lookup that reached Redis but the proxy's PTTLs. */
  reads(): Promise<number>;
  /** How many key lookups reached Redis while `action` ran. */
  readsDuring(action: () => Promise<unknown>): Promise<number>;
  /** Sends `signal` to the server process (SIGSTOP/SIGCONT to freeze it); local redis-server only. */
  signal(signal: NodeJS.Signals): void;
  /** Stops the server and waits until its port refuses connections; not an external Redis. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty; not an external Redis. */
  restart(): Promise<void>;
  /** Stops it for good and closes the client (an external Redis keeps running). */
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisOptions {
  /** Sets requirepass: the direct client logs in with it. */
  password?: string;
  /** The port to listen on (e.g. one a proxy already points at); a free one by default. */
  port?: number;
  /** Serve TLS only (`--port 0 --tls-port`): the direct client connects with `ca`, and `client` when given. */
  tls?: RedisTls;
}

/** A TLS redis-server: its certificate, the CA its clients' certificates are checked against, and Redis's tls-auth-clients. */
export interface RedisTls {
  server: CertFiles;
  ca: CertFiles;
  /** Default no: clients need no certificate. */
  authClients?: 'yes' | 'no' | 'optional';
  /** The direct client's certificate, for authClients yes. */
  client?: CertFiles;
}

/**
 * A Redis of the tests' own, or with TEST_REDIS_URL set (see external.ts) the one it names, as it is: nothing
 * in it is deleted, so tests there use keys of their own (freshKey). Options need a Redis of their own.
 */
export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  if (EXTERNAL) {
    if (Object.keys(options).length > 0) {
      throw new Error(`startRedis(${JSON.stringify(options)}) needs a Redis of its own: declare the test with localOnly()`);
    }
    return connectExternalRedis(EXTERNAL.redisUrl);
  }
  if (hasCommand('redis-server')) return startLocalRedis(options);
  if (options.tls) throw new Error('a TLS Redis needs a local redis-server (apt-get install redis-server)');
  if (await dockerAvailable()) return startContainerRedis(options);
  throw new Error('the end-to-end tests need a Redis: install redis-server (apt-get install redis-server) or run a Docker engine for testcontainers');
}

/** Resolves once 127.0.0.1:`port` accepts connections (`open`) or refuses them. */
export async function waitForPort(port: number, open: boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const isOpen = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (isOpen === open) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not ${open ? 'open' : 'close'} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function makeClient(host: string, port: number, password?: string, username?: string, db = 0, tls?: RedisTls): Redis {
  const secure = tls ? { tls: { ca: tls.ca.certPem, cert: tls.client?.certPem, key: tls.client?.keyPem } } : {};
  const client = new Redis({
    host,
    port,
    username,
    password,
    db,
    protocol: 2,
    lazyConnect: true,
    maxRetriesPerRequest: null,
    retryStrategy: () => 50,
    ...secure,
  });
  client.on('error', () => {});
  return client;
}

/**
 * Key lookups that reached Redis, but for PTTL: the proxy sends one right behind each fill, on the
 * same connection, to learn when the key expires, so a fill is one read here, as it is one fetch.
 */
async function readsOf(client: Redis): Promise<number> {
  const [stats, commandstats] = await Promise.all([client.info('stats'), client.info('commandstats')]);
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(stats)?.[1] ?? NaN);
  const pttls = Number(/^cmdstat_pttl:calls=(\d+)/m.exec(commandstats)?.[1] ?? 0);
  return field('keyspace_hits') + field('keyspace_misses') - pttls;
}

/** reads() and readsDuring() over the direct client. */
function readCounters(client: Redis): Pick<TestRedis, 'reads' | 'readsDuring'> {
  const reads = () => readsOf(client);
  return {
    reads,
    async readsDuring(action) {
      const before = await reads();
      await action();
      return (await reads()) - before;
    },
  };
}

async function startLocalRedis({ password, port: wanted, tls }: RedisOptions): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'rcp-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;

  const launch = async () => {
    const auth = password === undefined ? [] : ['--requirepass', password];
    const ports = tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.server.cert, '--tls-key-file', tls.server.key]
      : ['--port', String(port)];
    const tlsFiles = tls ? ['--tls-ca-cert-file', tls.ca.cert, '--tls-auth-clients', tls.authClients ?? 'no'] : [];
    child = spawn('redis-server', [...ports, ...tlsFiles, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...auth], {
      stdio: 'ignore',
    });
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`redis-server on port ${port} exited with code ${code}`))));
    exited.catch(() => {});
    await Promise.race([waitForPort(port, true), exited]);
  };
  // A free port can be taken by someone else before redis-server binds it: try another.
  for (let attempt = 0; ; attempt++) {
    port = wanted ?? (await freePort());
    try {
      await launch();
      break;
    } catch (err) {
      if (wanted !== undefined || attempt >= 4) throw err;
    }
  }

  const client = makeClient('127.0.0.1', port, password, undefined, 0, tls);
  await client.connect();
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill('SIGKILL');
    await exited;
    await waitForPort(port, false);
  };
  return {
    host: '127.0.0.1',
    port,
    client,
    ...readCounters(client),
    signal(sig) {
      child?.kill(sig);
    },
    stop,
    async restart() {
      await launch();
      await client.ping();
    },
    async close() {
      client.disconnect();
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function connectExternalRedis(redisUrl: string): Promise<TestRedis> {
  const url = new URL(redisUrl);
  const port = url.port ? Number(url.port) : 6379;
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  const client = makeClient(url.hostname, port, decodeURIComponent(url.password) || undefined, decodeURIComponent(url.username) || undefined, db);
  await client.connect();
  const notOurs = (what: string) => () => {
    throw new Error(`cannot ${what} the Redis TEST_REDIS_URL names: declare the test with localOnly()`);
  };
  return {
    host: url.hostname,
    port,
    client,
    ...readCounters(client),
    signal: notOurs('signal'),
    stop: notOurs('stop'),
    restart: notOurs('restart'),
    close() {
      client.disconnect();
      return Promise.resolve();
    },
  };
}

async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function startContainerRedis({ password, port }: RedisOptions): Promise<TestRedis> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const hostPort = port ?? (await freePort());
  const image = new GenericContainer('redis:7-alpine')
    .withCommand(['redis-server', ...(password === undefined ? [] : ['--requirepass', password])])
    .withExposedPorts({ container: 6379, host: hostPort })
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'));
  let container: Awaited<ReturnType<typeof image.start>> | undefined = await image.start();
  const host = container.getHost();
  const client = makeClient(host, hostPort, password);
  await client.connect();
  const stop = async () => {
    await container?.stop();
    container = undefined;
  };
  return {
    host,
    port: hostPort,
    client,
    ...readCounters(client),
    signal() {
      throw new Error('signals reach only a local redis-server');
    },
    stop,
    async restart() {
      container = await image.start();
      await client.ping();
    },
    async close() {
      client.disconnect();
      await stop();
    },
  };
}
