// Owns the wiring: one backend, one cache, and both front ends over it; started and closed in order.
import type { AddressInfo } from 'node:net';
import { createBackends } from './backend/backends.ts';
import { createInvalidator } from './cache/invalidator.ts';
import { KeyIndex } from './cache/key-index.ts';
import { createReadThrough } from './cache/read-through.ts';
import { createCacheStore } from './cache/store.ts';
import type { ProxyContext } from './commands/types.ts';
import type { Config } from './config.ts';
import { createMetrics } from './http/metrics.ts';
import { createHttpFrontEnd } from './http/server.ts';
import type { Logger } from './log.ts';
import { passwordCheck } from './server/auth.ts';
import { createRespFrontEnd } from './server/resp-server.ts';
import { createStats } from './stats.ts';

export interface RunningProxy {
  readonly http: AddressInfo;
  readonly resp: AddressInfo;
  /** Closes the listeners (letting connections finish their replies), then the backend connection. */
  close(): Promise<void>;
}

export async function startProxy(config: Config, log: Logger): Promise<RunningProxy> {
  const stats = createStats();
  // Redis's invalidations reach the cache through the invalidator, made once the cache exists (below;
  // no push can arrive before this function returns).
  const backends = createBackends(
    config,
    stats,
    { onInvalidate: (keys) => invalidator.fromRedis(keys), onTrackingLost: () => invalidator.trackingLost() },
    log,
  );
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

  const ports = { resp: config.respPort, http: config.httpPort };
  const context: ProxyContext = {
    readThrough,
    backends,
    stats,
    config,
    password: config.password === undefined ? undefined : passwordCheck(config.password),
    ports,
    clients: () => respFrontEnd.clients(),
    invalidate: (effect) => invalidator.afterWrite(effect),
  };
  const respFrontEnd = createRespFrontEnd({
    proxy: context,
    maxClients: config.maxClients,
    queryBufferLimit: config.queryBufferLimit,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    log,
  });
  const httpFrontEnd = createHttpFrontEnd({
    readThrough,
    backend,
    stats,
    db: config.backend.db,
    metrics: createMetrics(stats, readThrough, { tracking: () => backend.tracking, pinnedConnections: () => backends.pinned.open }),
    maxClients: config.maxClients,
    backendTimeoutMs: config.backendTimeoutMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
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
  let resp: AddressInfo;
  let http: AddressInfo;
  try {
    resp = await respFrontEnd.listen(config.listen, config.respPort);
    http = await httpFrontEnd.listen(config.listen, config.httpPort);
  } catch (err) {
    await respFrontEnd.close();
    await backends.close();
    throw err;
  }
  ports.resp = resp.port;
  ports.http = http.port;

  return {
    http,
    resp,
    async close() {
      await Promise.all([respFrontEnd.close(), httpFrontEnd.close()]);
      await backends.close();
    },
  };
}
