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
  /** Backend reads that failed because Redis could not be reached (or the proxy is closing). */
  backendUnavailable: number;
  /** Backend reads that failed because no reply came within REDIS_TIMEOUT of being queued. */
  backendTimeouts: number;
  /** Backend reads Redis answered with an error of its own (e.g. WRONGTYPE). */
  backendReplyErrors: number;
  /** How long each backend reply took, from the write that sent its command to the read that brought it. */
  readonly backendLatency: LatencyHistogram;
  /** Commands executed on the RESP port. */
  commandsProcessed: number;
  /**
   * The same commands by name: GET, nearly all of them, in a field of its own; the others by the command
   * table's lower-case name (so at most one entry per command the proxy serves); names it does not serve as one.
   */
  getCommands: number;
  readonly otherCommands: Map<string, number>;
  unknownCommands: number;
  /** RESP connections accepted since start, and open now. */
  respConnectionsTotal: number;
  respClients: number;
  /** HTTP connections open now. */
  httpClients: number;
  /** HTTP requests answered since start. */
  httpRequests: number;
  /** Connections refused at MAX_CLIENTS, on each front end. */
  respRejected: number;
  httpRejected: number;
  /** Connections closed for a malformed request. */
  protocolErrors: number;
  /** Connections to TLS_PORT (or HTTPS) whose handshake failed (no or an untrusted client certificate, not TLS, timed out). */
  tlsHandshakeFailures: number;
  /** Commands forwarded to Redis on the shared connections. */
  forwardedCommands: number;
  /** Keys dropped from the cache because a write through the proxy changed them. */
  invalidatedKeys: number;
  /** Invalidation pushes from Redis (CLIENT TRACKING), and the keys they named. */
  trackingInvalidations: number;
  trackingInvalidatedKeys: number;
  /** Writes whose keys are not named (scripts) whose replies waited for Redis's invalidations. */
  invalidationBarriers: number;
  /** Times the whole cache was dropped, by cause: a write that names no key (FLUSHALL, SWAPDB, or a
   * script without tracking), Redis's own flush invalidation, the tracked connection lost. */
  flushesForWrites: number;
  flushesByRedis: number;
  flushesForTrackingLost: number;
  /** Times the master moved (Redis Sentinel): each moved every backend connection and flushed the cache. */
  sentinelSwitches: number;
  /** Fills not stored because a write to their key was acknowledged while they were under way. */
  staleFills: number;
  /** Wrong passwords given (RESP AUTH and HELLO … AUTH, HTTP credentials), and connections closed at AUTH_TIMEOUT. */
  authFailures: number;
  authTimeouts: number;
  /** Clients refused by protected mode (no password, not from loopback), on both front ends. */
  protectedModeDenied: number;
  /** Milliseconds since the epoch when the proxy started. */
  readonly startedAt: number;
}

/** Whole seconds since the proxy started, for INFO and /metrics. */
export const uptimeSeconds = (stats: Stats) => Math.floor((Date.now() - stats.startedAt) / 1000);

/** Backend reads that failed, whatever the kind. */
export const backendErrors = (stats: Stats) => stats.backendUnavailable + stats.backendTimeouts + stats.backendReplyErrors;

/** Connections refused at MAX_CLIENTS on both front ends. */
export const rejectedConnections = (stats: Stats) => stats.respRejected + stats.httpRejected;

/** Counts a RESP command other than GET by its name in the command table (lower case). */
export function countCommand(stats: Stats, name: string): void {
  stats.otherCommands.set(name, (stats.otherCommands.get(name) ?? 0) + 1);
}

/** Upper bounds of the latency buckets in milliseconds, 0.1 ms to 2.5 s; a last bucket holds what is slower. */
export const LATENCY_BOUNDS_MS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/**
 * Latencies counted into fixed buckets, as plain numbers: observing one costs a few comparisons and two
 * additions, and /metrics turns the counts into a Prometheus histogram when it is scraped.
 */
export class LatencyHistogram {
  /** Observations per bucket (not cumulative): counts[i] are those ≤ LATENCY_BOUNDS_MS[i] and above the bound before; the last, the rest. */
  readonly counts: number[] = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  /** Milliseconds observed in all. */
  sumMs = 0;

  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[i]!) i++;
    this.counts[i]!++;
    this.sumMs += ms;
  }
}

export function createStats(): Stats {
  return {
    cacheHits: 0,
    cacheMisses: 0,
    coalescedReads: 0,
    evictions: 0,
    uncacheableValues: 0,
    backendReads: 0,
    backendUnavailable: 0,
    backendTimeouts: 0,
    backendReplyErrors: 0,
    backendLatency: new LatencyHistogram(),
    commandsProcessed: 0,
    getCommands: 0,
    otherCommands: new Map(),
    unknownCommands: 0,
    respConnectionsTotal: 0,
    respClients: 0,
    httpClients: 0,
    httpRequests: 0,
    respRejected: 0,
    httpRejected: 0,
    protocolErrors: 0,
    tlsHandshakeFailures: 0,
    forwardedCommands: 0,
    invalidatedKeys: 0,
    trackingInvalidations: 0,
    trackingInvalidatedKeys: 0,
    invalidationBarriers: 0,
    flushesForWrites: 0,
    flushesByRedis: 0,
    flushesForTrackingLost: 0,
    sentinelSwitches: 0,
    staleFills: 0,
    authFailures: 0,
    authTimeouts: 0,
    protectedModeDenied: 0,
    startedAt: Date.now(),
  };
}
