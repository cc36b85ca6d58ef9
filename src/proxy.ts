// Owns the wiring: one backend, one cache, and both front ends over it; started and closed in order.
import type { AddressInfo } from 'node:net';
import { createRedisBackend } from './backend/redis-backend.ts';
import { createReadThrough } from './cache/read-through.ts';
import { createCacheStore } from './cache/store.ts';
import type { Config } from './config.ts';
import { createHttpFrontEnd } from './http/server.ts';
import type { Logger } from './log.ts';
import { createStats } from './stats.ts';

export interface RunningProxy {
  readonly http: AddressInfo;
  /** Closes the listeners and their connections, then the backend connection. */
  close(): Promise<void>;
}

export async function startProxy(config: Config, log: Logger): Promise<RunningProxy> {
  const stats = createStats();
  const backend = createRedisBackend({ target: config.backend, timeoutMs: config.backendTimeoutMs, log });
  const store = createCacheStore({ capacity: config.cacheCapacity, expiryMs: config.cacheExpiryMs, stats });
  const readThrough = createReadThrough({ store, backend, stats, maxParallel: config.maxParallel });
  const httpFrontEnd = createHttpFrontEnd({ readThrough, backend, stats, maxClients: config.maxClients, log });

  // Serving starts either way; a backend that is down gets retried in the background.
  if (!(await backend.waitReady(config.backendTimeoutMs))) {
    log.warn(`backend ${backend.address} is not reachable yet; reads answer errors until it is`);
  }
  let http: AddressInfo;
  try {
    http = await httpFrontEnd.listen(config.listen, config.httpPort);
  } catch (err) {
    await backend.close();
    throw err;
  }

  return {
    http,
    async close() {
      await httpFrontEnd.close();
      await backend.close();
    },
  };
}
