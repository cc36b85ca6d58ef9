// Owns the proxy's connections to Redis: the cache's fill connection, the shared connections commands are forwarded on, the pinned pool, and the backend's command table.
import type { CommandTable } from '../commands/backend-commands.ts';
import { parseCommandTable } from '../commands/backend-commands.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { encodeCommand } from '../resp/command-encoder.ts';
import type { ProtocolVersion } from '../resp/reply.ts';
import type { Stats } from '../stats.ts';
import { parseReply } from '../resp/reply-reader.ts';
import { PROXY_NAME } from '../version.ts';
import { type BackendClient, createBackendClient } from './client.ts';
import type { Locator, Retargetable } from './connection.ts';
import type { CommandError } from '../errors.ts';
import type { PinnedConnection } from './pinned-connection.ts';
import { PinnedPool } from './pinned-pool.ts';
import { type Backend, createRedisBackend } from './redis-backend.ts';

export interface Backends {
  /** The connection that fills the cache; its state is the backend's health. */
  readonly fill: Backend;
  /**
   * Sends a client's command on the shared connection of its protocol, in database `db`; resolves with Redis's reply as it is.
   * `args` (the command's words) lets a cluster route it by its keys; without them it goes to any one node.
   */
  forward(protocol: ProtocolVersion, db: number, frame: string, args?: readonly Buffer[]): Promise<Buffer>;
  readonly pinned: PinnedSessions;
  /** True in front of a Redis Cluster: keys live in hash slots, and commands across slots are split or refused. */
  readonly clustered: boolean;
  /** The backend's command table once read (at the first connect); undefined until then. */
  table(): CommandTable | undefined;
  /** How many databases the backend has (CONFIG GET databases; 16 until known). */
  databases(): number;
  close(): Promise<void>;
}

/** The clients' own backend connections (transactions, blocking commands, Pub/Sub, MONITOR). */
export interface PinnedSessions {
  /** Pinned connections open now (in sessions and idle). */
  readonly open: number;
  /** A connection for `owner`'s session, on the node serving hash `slot` in a cluster (its keys'; undefined: none); an error past the limit. */
  acquire(owner: object, protocol: ProtocolVersion, db: number, slot: number | undefined): PinnedConnection | CommandError;
  /** `owner`'s session is over: keep the connection for its next one when it is clean, else close it. */
  release(owner: object, connection: PinnedConnection, clean: boolean): void;
  /** `owner` disconnected: its idle connections go too. */
  forget(owner: object): void;
  close(): void;
}

/** How often the command table is asked for again while Redis could not be asked. */
const TABLE_RETRY_MS = 1000;

/** What Redis tells the proxy about the cache's keys (the fill connection's tracking). */
export interface InvalidationEvents {
  onInvalidate(keys: Buffer[] | null): void;
  onTrackingLost(reason: string): void;
}

/**
 * `locator`: where the backend is when its address can change (Sentinel); absent, config.backend's host
 * and port. `retarget` moves every connection when it does: the shared ones reconnect there (reads in
 * flight are sent again), pinned sessions end with the reason, as on a lost connection.
 */
export function createBackends(config: Config, stats: Stats, events: InvalidationEvents, log: Logger, locator?: Locator): Backends & Retargetable {
  const common = { target: config.backend, locator, timeoutMs: config.backendTimeoutMs, maxInFlight: config.maxParallel, log };
  const fill = createRedisBackend({ ...common, latency: stats.backendLatency, invalidation: config.cacheInvalidation, ...events });
  // One shared connection per protocol: a reply is relayed as Redis sent it, so it must already be in
  // the client's protocol (a RESP3 HGETALL is a map, a RESP2 one an array). Forwarded commands are the
  // clients' own, each client bounded by its own limits, so they are pipelined without a cap, as
  // twemproxy does: with MAX_PARALLEL's 256, pipelined writes from 50 clients (redis-benchmark -P 16,
  // 800 at once) waited a round trip for those ahead: 0.7× twemproxy (1.0× uncapped). MAX_PARALLEL
  // bounds what the proxy sends on its own: the cache's fills.
  const forwarding = { ...common, maxInFlight: Infinity, replies: 'frame', name: `${PROXY_NAME}-shared`, logs: false } as const;
  const shared: Record<ProtocolVersion, BackendClient> = {
    2: createBackendClient({ ...forwarding, protocol: 2 }),
    3: createBackendClient({ ...forwarding, protocol: 3 }),
  };
  const pinned = new PinnedPool({ target: config.backend, locator, connectTimeoutMs: config.backendTimeoutMs, max: config.maxPinnedConnections });

  let table: CommandTable | undefined;
  let databases = 16;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  /** Reads the backend's COMMAND table and database count, retrying until Redis answers. */
  async function learn(): Promise<void> {
    try {
      const [commands, config] = await Promise.all([
        shared[2].send(encodeCommand(['COMMAND']), true, -1),
        shared[2].send(encodeCommand(['CONFIG', 'GET', 'databases']), true, -1),
      ]);
      table = parseCommandTable(parseReply(commands!));
      const pair = parseReply(config!);
      if (Array.isArray(pair) && pair[1] instanceof Buffer) databases = Number(pair[1].toString('latin1')) || databases;
      if (table === undefined)
        log.warn(`backend ${fill.address} did not list its commands (COMMAND); writes are recognised from @ioredis/commands`, {
          event: 'backend_no_command_table',
          backend: fill.address,
        });
    } catch {
      if (!closed) retry = setTimeout(() => void learn(), TABLE_RETRY_MS).unref();
    }
  }
  void learn();

  return {
    fill,
    forward: (protocol, db, frame) => shared[protocol].send(frame, false, db) as Promise<Buffer>,
    pinned,
    clustered: false,
    table: () => table,
    databases: () => databases,
    retarget(address, reason) {
      for (const client of [fill, shared[2], shared[3], pinned]) client.retarget(address, reason);
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      pinned.close();
      await Promise.all([fill.close(), shared[2].close(), shared[3].close()]);
    },
  };
}
