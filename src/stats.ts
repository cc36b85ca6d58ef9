// Owns the proxy's counters; plain numbers bumped in place because they sit on the hot path.

export interface Stats {
  /** Reads answered from the cache (values and remembered absences). */
  cacheHits: number;
  /** Reads that found nothing fresh in the cache. */
  cacheMisses: number;
  /** Misses that joined a fetch already in flight instead of starting one. */
  coalescedReads: number;
  /** Entries dropped to make room at CACHE_CAPACITY or CACHE_MAX_MEMORY. */
  evictions: number;
  /** Reads answered but not cached: the value was over CACHE_MAX_VALUE_SIZE (or key and value over CACHE_MAX_MEMORY). */
  uncacheableValues: number;
  /** GETs sent to the backing Redis. */
  backendReads: number;
  /** Backend reads that failed (unreachable, timeout, error reply). */
  backendErrors: number;
  /** Commands executed on the RESP port. */
  commandsProcessed: number;
  /** RESP connections accepted since start, and open now. */
  respConnectionsTotal: number;
  respClients: number;
  /** HTTP connections open now. */
  httpClients: number;
  /** HTTP requests answered since start. */
  httpRequests: number;
  /** Connections refused at MAX_CLIENTS, both front ends. */
  rejectedConnections: number;
  /** Connections closed for a malformed request. */
  protocolErrors: number;
  /** Commands forwarded to Redis on the shared connections. */
  forwardedCommands: number;
  /** Keys dropped from the cache because a write through the proxy changed them. */
  invalidatedKeys: number;
  /** Times the whole cache was dropped because a write's keys could not be known (FLUSHALL, a script, …). */
  cacheFlushes: number;
  /** Milliseconds since the epoch when the proxy started. */
  readonly startedAt: number;
}

/** Whole seconds since the proxy started, for INFO and /metrics. */
export const uptimeSeconds = (stats: Stats) => Math.floor((Date.now() - stats.startedAt) / 1000);

export function createStats(): Stats {
  return {
    cacheHits: 0,
    cacheMisses: 0,
    coalescedReads: 0,
    evictions: 0,
    uncacheableValues: 0,
    backendReads: 0,
    backendErrors: 0,
    commandsProcessed: 0,
    respConnectionsTotal: 0,
    respClients: 0,
    httpClients: 0,
    httpRequests: 0,
    rejectedConnections: 0,
    protocolErrors: 0,
    forwardedCommands: 0,
    invalidatedKeys: 0,
    cacheFlushes: 0,
    startedAt: Date.now(),
  };
}
