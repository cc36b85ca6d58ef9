// Owns a Sentinel-managed Redis for tests: a master, a replica and three sentinels on free loopback ports, and failing it over.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from './eventually.ts';
import { freePort, waitForPort } from './redis-server.ts';

export const MASTER_NAME = 'mymaster';

export interface TestNode {
  readonly port: number;
  /** A direct client (RESP2), reconnecting on its own. */
  readonly client: Redis;
}

export interface SentinelSet {
  /** The two data nodes, in start order: [0] is the first master. */
  readonly nodes: readonly TestNode[];
  readonly sentinels: readonly TestNode[];
  /** REDIS_SENTINELS and REDIS_SENTINEL_MASTER for the proxy. */
  readonly env: Record<string, string>;
  /** Sends SIGKILL to the data node on `port` (no shutdown: as a crash). */
  kill(port: number): Promise<void>;
  close(): Promise<void>;
}

export interface SentinelSetOptions {
  /** The data nodes' requirepass (and masterauth); the sentinels are told it (sentinel auth-pass). */
  password?: string;
  /** The sentinels' own requirepass (and sentinel-pass, which they use among themselves). */
  sentinelPassword?: string;
}

function client(port: number, password?: string): Redis {
  // Reconnecting across a kill, but never waiting for ever: a command fails after 10 s.
  const c = new Redis({
    port,
    host: '127.0.0.1',
    password,
    protocol: 2,
    commandTimeout: 10_000,
    lazyConnect: true,
    maxRetriesPerRequest: null,
    retryStrategy: () => 100,
  });
  c.on('error', () => {});
  return c;
}

/** `SENTINEL …` replies in RESP2 are flat arrays of field, value, …: this makes objects of them. */
const fields = (flat: unknown): Record<string, string> => {
  const list = flat as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]!] = list[i + 1]!;
  return out;
};

/**
 * Starts the set and waits until every sentinel knows the replica and the two other sentinels: only
 * then can they agree on a failover. Sentinels find the replica through the master's INFO, and each
 * other through hello messages every 2 s, so this takes 2 to 4 s.
 */
export async function startSentinelSet({ password, sentinelPassword }: SentinelSetOptions = {}): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'rcp-sentinel-'));
  const children = new Map<number, ChildProcess>();
  /**
   * Starts redis-server with `argsFor(port)` on a free port, and resolves with the port. A free port can
   * be taken by someone else before redis-server binds it, and then the port answers while ours has
   * exited: the server's process_id must be our child's, else another port is tried.
   */
  const launch = async (argsFor: (port: number) => string[], auth?: string): Promise<number> => {
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const child = spawn('redis-server', argsFor(port), { stdio: 'ignore' });
      const exited = new Promise<never>((_, reject) =>
        child.once('exit', (code) => reject(new Error(`redis-server on port ${port} exited with code ${code}`))),
      );
      exited.catch(() => {});
      try {
        await Promise.race([waitForPort(port, true), exited]);
        const probe = new Redis({ port, host: '127.0.0.1', password: auth, protocol: 2, lazyConnect: true, retryStrategy: () => null, commandTimeout: 5000 });
        probe.on('error', () => {});
        const info = await probe.info('server').finally(() => probe.disconnect());
        if (!new RegExp(`^process_id:${child.pid}\\r?$`, 'm').test(info)) throw new Error(`port ${port} is someone else's`);
        children.set(port, child);
        return port;
      } catch (err) {
        child.kill('SIGKILL');
        if (attempt >= 4) throw err;
      }
    }
  };
  const dataArgs = (port: number, replicaOf?: number) => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--dbfilename',
    `dump-${port}.rdb`,
    // A replica syncs at once, not after the default 5 s that lets more replicas join one transfer.
    '--repl-diskless-sync-delay',
    '0',
    ...(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]),
    ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
  ];

  const masterPort = await launch((port) => dataArgs(port), password);
  const replicaPort = await launch((port) => dataArgs(port, masterPort), password);
  const nodes = [masterPort, replicaPort].map((port) => ({ port, client: client(port, password) }));
  await Promise.all(nodes.map((n) => n.client.connect()));
  // The replica is in sync before the sentinels look: they then find it in the master's first INFO.
  await eventually(async () => /master_link_status:up/.test(await nodes[1]!.client.info('replication')), 'the replica to sync', 10_000);

  const sentinelConf = (port: number) => {
    const conf = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 3000`,
        ...(password === undefined ? [] : [`sentinel auth-pass ${MASTER_NAME} ${password}`]),
        ...(sentinelPassword === undefined ? [] : [`requirepass ${sentinelPassword}`, `sentinel sentinel-pass ${sentinelPassword}`]),
        '',
      ].join('\n'),
    );
    return [conf, '--sentinel'];
  };
  const sentinelPorts: number[] = [];
  for (let i = 0; i < 3; i++) sentinelPorts.push(await launch(sentinelConf, sentinelPassword));
  const sentinels = sentinelPorts.map((port) => ({ port, client: client(port, sentinelPassword) }));
  await Promise.all(sentinels.map((s) => s.client.connect()));
  await eventually(
    async () => {
      for (const s of sentinels) {
        const replicas = ((await s.client.call('SENTINEL', 'replicas', MASTER_NAME)) as unknown[]).map(fields);
        const others = ((await s.client.call('SENTINEL', 'sentinels', MASTER_NAME)) as unknown[]).map(fields);
        if (replicas.length !== 1 || /s_down|disconnected/.test(replicas[0]!.flags ?? '') || others.length !== 2) return false;
      }
      return true;
    },
    'every sentinel to know the replica and the two other sentinels',
    15_000,
  );

  return {
    nodes,
    sentinels,
    env: { REDIS_SENTINELS: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','), REDIS_SENTINEL_MASTER: MASTER_NAME },
    async kill(port) {
      const child = children.get(port)!;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      await waitForPort(port, false);
    },
    async close() {
      for (const n of [...nodes, ...sentinels]) n.client.disconnect();
      const running = [...children.values()].filter((child) => child.exitCode === null && child.signalCode === null);
      await Promise.all(
        running.map((child) => {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          return exited;
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
