// Owns the wiring: one backend, one cache, and both front ends over it; started and closed in order.
import type { AddressInfo } from 'node:net';
import { createBackends } from './backend/backends.ts';
import { createSentinel } from './backend/sentinel.ts';
import { createClusterBackends } from './backend/cluster/cluster-backends.ts';
import { createInvalidator } from './cache/invalidator.ts';
import { KeyIndex } from './cache/key-index.ts';
import { createReadThrough } from './cache/read-through.ts';
import { createCacheStore } from './cache/store.ts';
import type { ProxyContext } from './commands/types.ts';
import type { Dropped } from './cluster-messages.ts';
import type { WriteEffect } from './commands/routing.ts';
import type { Config } from './config.ts';
import { createMetrics } from './http/metrics.ts';
import { createHttpFrontEnd } from './http/server.ts';
import type { Logger } from './log.ts';
import { passwordCheck } from './server/auth.ts';
import { createRespFrontEnd } from './server/resp-server.ts';
import { createStats } from './stats.ts';
import { readFigures, type WorkerFigures, type WorkersView } from './worker-figures.ts';

export interface RunningProxy {
  readonly http: AddressInfo;
  /** The plain Redis-protocol port; undefined with RESP_PORT=off. */
  readonly resp: AddressInfo | undefined;
  /** The TLS Redis-protocol port, when TLS_PORT is set. */
  readonly tls: AddressInfo | undefined;
  /** Reads the TLS port's and HTTPS's certificate files again (SIGHUP); false when they cannot be used (the old ones stay). */
  reloadTls(): boolean;
  /** Closes the listeners (letting connections finish their replies), then the backend connection. */
  close(): Promise<void>;
  /** This process's main counters, read now (what a worker reports to the others). */
  figures(): WorkerFigures;
  /** Another worker's writes changed `what`: drop it from this worker's cache (resolves once done). */
  dropForPeer(what: Dropped): Promise<void>;
}

/** With WORKERS > 1: which worker this is, and the others' figures as the primary last sent them. */
export interface Peers {
  readonly id: number;
  readonly count: number;
  others(): ReadonlyMap<number, WorkerFigures>;
  /** A write this worker relays changed `effect`: resolves once every other worker has dropped it. */
  afterWrite(effect: Exclude<WriteEffect, null>): Promise<void>;
}

export async function startProxy(config: Config, log: Logger, peers?: Peers): Promise<RunningProxy> {
  const stats = createStats();
  // With Sentinel, every backend connection asks it where the master is; it is told of switches below.
  const sentinel = config.sentinel && createSentinel({ config: config.sentinel, target: config.backend, timeoutMs: config.backendTimeoutMs, log });
  // Redis's invalidations reach the cache through the invalidator, made once the cache exists (below;
  // no push can arrive before this function returns).
  const events = { onInvalidate: (keys: Buffer[] | null) => invalidator.fromRedis(keys), onTrackingLost: () => invalidator.trackingLost() };
  // One Redis (or Sentinel's master) can move; a cluster's backends follow its slot map themselves.
  const single = config.clusterNodes ? undefined : createBackends(config, stats, events, log, sentinel);
  const backends = single ?? createClusterBackends(config, stats, events, log);
  const backend = backends.fill;
  const index = new KeyIndex();
  const store = createCacheStore({
    capacity: config.cacheCapacity,
    expiryMs: config.cacheExpiryMs,
    maxMemory: config.cacheMaxMemory,
    maxValueSize: config.cacheMaxValueSize,
    stats,
    onDrop: (entry) => index.drop(entry),
  });
  const readThrough = createReadThrough({ store, index, backend, stats });
  const invalidator = createInvalidator(readThrough, backend, stats);
  // A switch moves every connection, then flushes: replication is asynchronous, so the new master may
  // lack writes the old one had. In that order, no reply from the old master can land after the flush.
  sentinel?.watch((to, reason) => {
    stats.sentinelSwitches++;
    single?.retarget(to, reason);
    readThrough.clear();
  });
  const figures = () => readFigures(stats, readThrough);
  const workers: WorkersView | undefined = peers && {
    id: peers.id,
    count: peers.count,
    figures() {
      // Its own figures read now, so that what a client just did through this worker shows at once.
      const all = new Map(peers.others()).set(peers.id, figures());
      return [...all].sort(([a], [b]) => a - b);
    },
  };

  const ports = { resp: config.respPort ?? 0, http: config.httpPort, tls: config.tls?.port ?? 0 };
  const context: ProxyContext = {
    readThrough,
    backends,
    stats,
    config,
    password: config.password === undefined ? undefined : passwordCheck(config.password),
    ports,
    clients: () => respFrontEnd.clients(),
    invalidate(effect) {
      const here = invalidator.afterWrite(effect);
      if (peers === undefined || effect === null) return here;
      const elsewhere = peers.afterWrite(effect);
      return here === undefined ? elsewhere : Promise.all([here, elsewhere]).then(() => {});
    },
    workers,
  };
  const respFrontEnd = createRespFrontEnd({
    proxy: context,
    maxClients: config.maxClients,
    queryBufferLimit: config.queryBufferLimit,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    tls: config.tls,
    log,
  });
  const httpFrontEnd = createHttpFrontEnd({
    readThrough,
    backend,
    stats,
    db: config.backend.db,
    metrics: createMetrics(stats, readThrough, { tracking: () => backend.tracking, pinnedConnections: () => backends.pinned.open, workers }),
    maxClients: config.maxClients,
    backendTimeoutMs: config.backendTimeoutMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    tls: config.httpTls,
    password: context.password,
    protectedMode: config.protectedMode,
    metricsAuth: config.metricsAuth,
    log,
  });

  // Serving starts either way; a backend that is down is retried in the background.
  if (!(await backend.waitReady(config.backendTimeoutMs))) {
    log.warn(`backend ${backend.address} is not reachable yet; reads answer errors until it is`, {
      event: 'backend_not_ready',
      backend: backend.address,
      reason: backend.unavailableReason,
    });
  }
  let resp: AddressInfo | undefined;
  let tls: AddressInfo | undefined;
  let http: AddressInfo;
  try {
    if (config.respPort !== null) resp = await respFrontEnd.listen(config.listen, config.respPort);
    if (config.tls) tls = await respFrontEnd.listenTls(config.listen, config.tls.port);
    http = await httpFrontEnd.listen(config.listen, config.httpPort);
  } catch (err) {
    await respFrontEnd.close();
    await backends.close();
    await sentinel?.close();
    throw err;
  }
  if (resp) ports.resp = resp.port;
  if (tls) ports.tls = tls.port;
  ports.http = http.port;

  return {
    http,
    resp,
    tls,
    reloadTls() {
      // Both, even when the first fails: each logs its own outcome.
      const resp = config.tls ? respFrontEnd.reloadTls() : true;
      const https = config.httpTls ? httpFrontEnd.reloadTls() : true;
      return resp && https;
    },
    async dropForPeer({ keys, unnamed }) {
      // As if the write had come through here: its keys dropped, fetches under way kept from storing.
      if (keys === null) readThrough.clear();
      else for (const key of keys) readThrough.invalidate(key);
      if (unnamed) await invalidator.afterWrite('unknown-keys');
    },
    async close() {
      await Promise.all([respFrontEnd.close(), httpFrontEnd.close()]);
      await backends.close();
      await sentinel?.close();
    },
    figures,
  };
}
