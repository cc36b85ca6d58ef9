// Owns the wiring: one backend, one cache, and both front ends over it; started and closed in order.
import type { AddressInfo } from 'node:net';
import { createRedisBackend } from './backend/redis-backend.ts';
import { createReadThrough } from './cache/read-through.ts';
import { createCacheStore } from './cache/store.ts';
import type { ProxyContext } from './commands/types.ts';
import type { Config } from './config.ts';
import { createMetrics } from './http/metrics.ts';
import { createHttpFrontEnd } from './http/server.ts';
import type { Logger } from './log.ts';
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
  const backend = createRedisBackend({
    target: config.backend,
    timeoutMs: config.backendTimeoutMs,
    maxInFlight: config.maxParallel,
    latency: stats.backendLatency,
    log,
  });
  const store = createCacheStore({
    capacity: config.cacheCapacity,
    expiryMs: config.cacheExpiryMs,
    maxMemory: config.cacheMaxMemory,
    maxValueSize: config.cacheMaxValueSize,
    stats,
  });
  const readThrough = createReadThrough({ store, backend, stats });

  const ports = { resp: config.respPort, http: config.httpPort };
  const context: ProxyContext = { readThrough, backend, stats, config, ports, clients: () => respFrontEnd.clients() };
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
    metrics: createMetrics(stats, readThrough),
    maxClients: config.maxClients,
    backendTimeoutMs: config.backendTimeoutMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    log,
  });

  // Serving starts either way; a backend that is down is retried in the background.
  if (!(await backend.waitReady(config.backendTimeoutMs))) {
    log.warn(`backend ${backend.address} is not reachable yet; reads answer errors until it is`);
  }
  let resp: AddressInfo;
  let http: AddressInfo;
  try {
    resp = await respFrontEnd.listen(config.listen, config.respPort);
    http = await httpFrontEnd.listen(config.listen, config.httpPort);
  } catch (err) {
    await respFrontEnd.close();
    await backend.close();
    throw err;
  }
  ports.resp = resp.port;
  ports.http = http.port;

  return {
    http,
    resp,
    async close() {
      await Promise.all([respFrontEnd.close(), httpFrontEnd.close()]);
      await backend.close();
    },
  };
}
