// Owns a throwaway Redis Cluster for tests and the benchmark: its redis-server processes, its creation, resharding and failover.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { freePort, waitForPort } from './redis-server.ts';
import { requireTool, run } from './tools.ts';

export type Role = 'master' | 'replica';

/** One redis-server of the cluster, as it was created. */
export interface ClusterNode {
  readonly port: number;
  readonly pid: number;
  /** Its node id (CLUSTER MYID). */
  readonly id: string;
  /** Its role at creation; after a failover, masters() and replicas() say what it is now. */
  readonly role: Role;
}

/** A node as the cluster sees it now (CLUSTER NODES). */
export interface LiveNode {
  readonly port: number;
  readonly id: string;
  /** The slot ranges it serves, [first, last] inclusive; none for a replica. */
  readonly slots: readonly (readonly [number, number])[];
  /** A replica's master's id. */
  readonly masterId?: string;
}

export interface ClusterSpec {
  /** Default 3. */
  masters?: number;
  /** Default 1. */
  replicasPerMaster?: number;
  /** Every node's requirepass (and masterauth, for its replicas); default none. */
  password?: string;
  /** TLS only (`--port 0 --tls-port P --tls-cluster yes`): the nodes' certificate and key, and the CA their clients trust. */
  tls?: { readonly cert: string; readonly key: string; readonly ca: string };
}

export interface TestCluster {
  readonly nodes: readonly ClusterNode[];
  /** Every node as 127.0.0.1:port, comma-separated: REDIS_CLUSTER_NODES's value. */
  readonly seeds: string;
  /** The masters serving slots now, by port. */
  masters(): Promise<LiveNode[]>;
  /** The replicas now, by port. */
  replicas(): Promise<LiveNode[]>;
  /** The master serving `key`'s slot now. */
  masterOf(key: string): Promise<LiveNode>;
  /** A new cluster-aware ioredis client (RESP2); stop() disconnects it. */
  client(options?: ClusterOptions): Cluster;
  /** A plain client of one node (INFO, DBSIZE, CLUSTER …), RESP2, failing fast once the node is gone; stop() disconnects it. */
  node(port: number): Redis;
  /** FLUSHALL on every live master, and waits until their replicas are empty too. */
  flushAll(): Promise<void>;
  /** Sends `signal` (default SIGKILL) to one node's process; SIGKILL and SIGTERM count it as gone from then on. */
  kill(port: number, signal?: NodeJS.Signals): void;
  /** Moves `slots` slots, keys and all, from one master to another with `redis-cli --cluster reshard`; resolves once every node agrees. */
  reshard(fromPort: number, toPort: number, slots: number): Promise<void>;
  /** Waits until a replica of the killed master serves its slots and every live node says cluster_state:ok; the new master's port. */
  waitForFailover(killedPort: number, timeoutMs?: number): Promise<number>;
  /** Kills every process, disconnects every client, removes the directory. */
  stop(): Promise<void>;
}

/** Redis adds this to a node's port for its cluster bus, and both must be free. */
const BUS_OFFSET = 10_000;
/** How long the cluster may take to come up, agree or fail over: a "did not hang" bound. */
const SETTLE_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port P ≤ 55535 whose bus port P + 10000 is free too, and not in `taken` (either way round). */
async function freeNodePort(taken: ReadonlySet<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await freePort();
    const clash = [port, port + BUS_OFFSET].some((p) => taken.has(p) || taken.has(p - BUS_OFFSET) || taken.has(p + BUS_OFFSET));
    if (port + BUS_OFFSET <= 65_535 && !clash && (await portIsFree(port + BUS_OFFSET))) return port;
  }
  throw new Error('no free port P with P + 10000 free too after 200 tries');
}

/** A node's client: RESP2, and failing at once when its node is down, so that polling a dead node cannot hang. */
function nodeClient(port: number, password: string | undefined, tls: ClusterSpec['tls']): Redis {
  const client = new Redis({
    port,
    password,
    ...(tls === undefined ? {} : { tls: { ca: readFileSync(tls.ca) } }),
    host: '127.0.0.1',
    protocol: 2,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
  });
  client.on('error', () => {});
  return client;
}

/** CLUSTER NODES parsed: `<id> <ip:port@bus> <flags> <master|-> <ping> <pong> <epoch> <link> <slot>…`. */
function parseClusterNodes(text: string): (LiveNode & { flags: string[] })[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(address!)?.[1]);
      return {
        id: id!,
        port,
        flags: flags!.split(','),
        ...(master !== '-' ? { masterId: master } : {}),
        // Slots being migrated show as [slot->-id] or [slot-<-id]: not ranges.
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [first, last] = s.split('-').map(Number);
            return [first!, last ?? first!] as const;
          }),
      };
    });
}

/** The masters CLUSTER SLOTS names, one `first-last@port` per range, sorted: what every node must agree on. */
async function slotMap(client: Redis): Promise<string> {
  const slots = await client.cluster('SLOTS');
  return slots
    .map(([first, last, ...nodes]) => `${first}-${last}@${nodes[0]?.[1]}`)
    .sort()
    .join(' ');
}

/**
 * Starts `masters × (1 + replicasPerMaster)` redis-servers in cluster mode on free ports, joins them with
 * `redis-cli --cluster create`, and resolves once every node says cluster_state:ok with all 16384 slots
 * assigned, every node names the same masters in CLUSTER SLOTS, and every replica is in sync with its master.
 */
export async function startRedisCluster({ masters = 3, replicasPerMaster = 1, password, tls }: ClusterSpec = {}): Promise<TestCluster> {
  requireTool('redis-server');
  requireTool('redis-cli');
  const dir = mkdtempSync(join(tmpdir(), 'rcp-cluster-'));
  const children = new Map<number, ChildProcess>();
  const gone = new Set<number>();
  const clients = new Map<number, Redis>();
  const clusterClients = new Set<Cluster>();

  const launch = async (port: number) => {
    const child = spawn(
      'redis-server',
      [
        ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '1000'],
        ...(tls === undefined
          ? ['--port', String(port)]
          : ['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-replication', 'yes', '--tls-auth-clients', 'no']),
        ...(tls === undefined ? [] : ['--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca]),
        ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        // Replicas sync at once rather than after Redis's default 5 s wait for more replicas to share the transfer.
        ...['--repl-diskless-sync-delay', '0'],
        ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`cluster node on port ${port} exited with code ${code}`))));
    exited.catch(() => {});
    await Promise.race([waitForPort(port, true), exited]);
    children.set(port, child);
  };
  const stop = async () => {
    for (const client of clusterClients) client.disconnect();
    for (const client of clients.values()) client.disconnect();
    await Promise.all(
      [...children.values()].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // A free port can be taken by someone else before redis-server binds it (or its bus port): try another.
    const total = masters * (1 + replicasPerMaster);
    const ports: number[] = [];
    const taken = new Set<number>();
    for (let i = 0; i < total; i++) {
      for (let attempt = 0; ; attempt++) {
        const port = await freeNodePort(taken);
        taken.add(port);
        try {
          await launch(port);
          ports.push(port);
          break;
        } catch (err) {
          if (attempt >= 4) throw err;
        }
      }
    }
    const node = (port: number) => {
      let client = clients.get(port);
      if (!client) clients.set(port, (client = nodeClient(port, password, tls)));
      return client;
    };
    const live = () => ports.filter((p) => !gone.has(p));
    const view = async (from = live()[0]!) => parseClusterNodes((await node(from).cluster('NODES')) as string);

    /** Whether every live node says the cluster is whole and names the same masters; `extra` adds a condition. */
    const settled = async (extra: () => Promise<boolean> = () => Promise.resolve(true)) => {
      try {
        const infos = await Promise.all(live().map((p) => node(p).cluster('INFO')));
        if (!infos.every((info) => /^cluster_state:ok\r?$/m.test(info) && /^cluster_slots_assigned:16384\r?$/m.test(info))) return false;
        const maps = await Promise.all(live().map((p) => slotMap(node(p))));
        if (new Set(maps).size !== 1) return false;
        // No slot half-way between two nodes.
        const views = await Promise.all(live().map((p) => node(p).cluster('NODES') as Promise<string>));
        if (views.some((v) => /\[\d+-[<>]-/.test(v))) return false;
        return await extra();
      } catch {
        return false;
      }
    };
    const waitUntil = async (check: () => Promise<boolean>, what: string, timeoutMs = SETTLE_MS) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`the cluster: ${what} did not happen within ${timeoutMs} ms`);
        await sleep(50);
      }
    };
    const replicasInSync = async () => {
      const replicas = (await view()).filter((n) => n.flags.includes('slave') && !gone.has(n.port));
      const infos = await Promise.all(replicas.map((r) => node(r.port).info('replication')));
      return infos.every((info) => /^master_link_status:up\r?$/m.test(info));
    };

    const created = await run(
      'redis-cli',
      [
        ...(password === undefined ? [] : ['-a', password, '--no-auth-warning']),
        ...(tls === undefined ? [] : ['--tls', '--cacert', tls.ca]),
        ...['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'],
      ],
      '',
      SETTLE_MS,
    );
    if (created.code !== 0) throw new Error(`redis-cli --cluster create exited with code ${created.code}:\n${created.stdout}${created.stderr}`);
    await waitUntil(() => settled(async () => (await view()).length === total && (await replicasInSync())), 'every node agreeing, replicas in sync');

    const initial = await view();
    const nodes: ClusterNode[] = ports.map((port) => {
      const seen = initial.find((n) => n.port === port)!;
      return { port, pid: children.get(port)!.pid!, id: seen.id, role: seen.flags.includes('master') ? 'master' : 'replica' };
    });
    const idOf = (port: number) => {
      const found = nodes.find((n) => n.port === port);
      if (!found) throw new Error(`no cluster node on port ${port}`);
      return found.id;
    };
    const current = async (role: Role) => {
      const all = (await view()).filter((n) => !n.flags.includes('fail') && !n.flags.includes('fail?') && !gone.has(n.port));
      return all
        .filter((n) => n.flags.includes(role === 'master' ? 'master' : 'slave'))
        .sort((a, b) => a.port - b.port)
        .map(({ port, id, slots, masterId }): LiveNode => ({ port, id, slots, ...(masterId ? { masterId } : {}) }));
    };

    return {
      nodes,
      seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
      masters: () => current('master'),
      replicas: () => current('replica'),
      async masterOf(key) {
        const slot = Number(await node(live()[0]!).cluster('KEYSLOT', key));
        const owner = (await current('master')).find((m) => m.slots.some(([first, last]) => slot >= first && slot <= last));
        if (!owner) throw new Error(`no master serves slot ${slot} of ${JSON.stringify(key)}`);
        return owner;
      },
      client(options = {}) {
        const client = new Cluster(
          live().map((port) => ({ host: '127.0.0.1', port })),
          { ...options, redisOptions: { protocol: 2, password, ...(tls === undefined ? {} : { tls: { ca: readFileSync(tls.ca) } }), ...options.redisOptions } },
        );
        client.on('error', () => {});
        clusterClients.add(client);
        return client;
      },
      node,
      async flushAll() {
        const masterPorts = (await current('master')).map((m) => m.port);
        await Promise.all(masterPorts.map((p) => node(p).flushall()));
        const replicaPorts = (await current('replica')).map((r) => r.port);
        await waitUntil(async () => (await Promise.all(replicaPorts.map((p) => node(p).dbsize()))).every((n) => n === 0), 'replicas emptied by FLUSHALL');
      },
      kill(port, signal = 'SIGKILL') {
        const child = children.get(port);
        if (!child) throw new Error(`no cluster node on port ${port}`);
        if (signal === 'SIGKILL' || signal === 'SIGTERM') {
          gone.add(port);
          clients.get(port)?.disconnect();
          clients.delete(port);
        }
        child.kill(signal);
      },
      async reshard(fromPort, toPort, slots) {
        // redis-cli refuses to reshard a cluster whose nodes do not agree yet.
        await waitUntil(() => settled(), 'every node agreeing before the reshard');
        const args = ['--cluster', 'reshard', `127.0.0.1:${fromPort}`, '--cluster-from', idOf(fromPort), '--cluster-to', idOf(toPort)];
        const auth = [...(password === undefined ? [] : ['-a', password, '--no-auth-warning']), ...(tls === undefined ? [] : ['--tls', '--cacert', tls.ca])];
        const done = await run('redis-cli', [...auth, ...args, '--cluster-slots', String(slots), '--cluster-yes'], '', 5 * 60_000);
        // redis-cli says [ERR] and still exits 0 on some failures (a MIGRATE refused): either is a failed reshard.
        if (done.code !== 0 || /\[ERR\]/.test(done.stdout + done.stderr)) {
          throw new Error(`redis-cli --cluster reshard exited with code ${done.code}:\n${done.stdout.slice(-4000)}${done.stderr}`);
        }
        await waitUntil(() => settled(), 'every node agreeing after the reshard');
      },
      async waitForFailover(killedPort, timeoutMs = SETTLE_MS) {
        const killedId = idOf(killedPort);
        const itsReplicas = new Set(
          nodes.filter((n) => n.role === 'replica' && initial.find((i) => i.port === n.port)?.masterId === killedId).map((n) => n.port),
        );
        let promoted = 0;
        await waitUntil(
          () =>
            settled(async () => {
              const masterPorts = (await current('master')).filter((m) => m.slots.length > 0).map((m) => m.port);
              if (masterPorts.includes(killedPort)) return false;
              promoted = masterPorts.find((p) => itsReplicas.has(p)) ?? 0;
              return promoted !== 0;
            }),
          `a replica of ${killedPort} taking over its slots`,
          timeoutMs,
        );
        return promoted;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
