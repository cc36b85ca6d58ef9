// Owns GET /metrics: one prom-client registry per proxy, reading the proxy's plain counters when it is scraped.
import { collectDefaultMetrics, Counter, Gauge, type Metric, Registry } from 'prom-client';
import type { TrackingState } from '../backend/redis-backend.ts';
import type { ReadThrough } from '../cache/read-through.ts';
import { backendErrors, LATENCY_BOUNDS_MS, type LatencyHistogram, rejectedConnections, type Stats, uptimeSeconds } from '../stats.ts';
import { FIGURES, totals, type WorkerFigures, type WorkersView } from '../worker-figures.ts';

export interface Metrics {
  /** The exposition's Content-Type (Prometheus text, version 0.0.4). */
  readonly contentType: string;
  /** Every metric, its value read now, in Prometheus text format. */
  render(): Promise<string>;
}

const PREFIX = 'redis_cache_proxy_';

/**
 * The histogram of backend reply latency, built from the plain bucket counts the backend keeps. prom-client's
 * Histogram can only observe values one by one, which would put its work (and a clock reading) on every reply;
 * a registry takes any object that describes itself like its metrics do, so this one renders the counts as
 * they are.
 */
function latencyCollector(name: string, help: string, histogram: LatencyHistogram) {
  const le = LATENCY_BOUNDS_MS.map((ms) => String(ms / 1000));
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset() {
      // The counts belong to the backend: a registry reset leaves them alone.
    },
    get() {
      const values: { metricName: string; labels: Record<string, string>; value: number }[] = [];
      let count = 0;
      for (let i = 0; i < le.length; i++) {
        count += histogram.counts[i]!;
        values.push({ metricName: `${name}_bucket`, labels: { le: le[i]! }, value: count });
      }
      count += histogram.counts[le.length]!;
      values.push(
        { metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: count },
        { metricName: `${name}_sum`, labels: {}, value: histogram.sumMs / 1000 },
        { metricName: `${name}_count`, labels: {}, value: count },
      );
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
}

/**
 * The proxy's metrics and prom-client's default process and Node ones (CPU, memory, event-loop lag, GC,
 * handles). The hot path only bumps plain numbers in `stats`; the collect callbacks copy them into
 * prom-client's metrics at scrape time, so a cache hit costs nothing more for being exported.
 */
export function createMetrics(
  stats: Stats,
  cache: ReadThrough,
  proxy: { tracking(): TrackingState; pinnedConnections(): number; workers?: WorkersView | undefined },
): Metrics {
  const registry = new Registry();
  // With WORKERS > 1 a scrape reaches whichever worker the port hands it to: each of this worker's own
  // series says so, so that two workers' figures never pass for one series that jumps.
  if (proxy.workers) registry.setDefaultLabels({ worker: String(proxy.workers.id) });
  const registers = [registry];

  const counter = (name: string, help: string, value: () => number) =>
    new Counter({
      name: PREFIX + name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(value());
      },
    });
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({
      name: PREFIX + name,
      help,
      registers,
      collect() {
        this.set(value());
      },
    });
  /** A counter or gauge with one label, its series read from `values` (label value → number). */
  const labelledCounter = (name: string, help: string, label: string, values: () => Iterable<[string, number]>) =>
    new Counter({
      name: PREFIX + name,
      help,
      labelNames: [label],
      registers,
      collect() {
        this.reset();
        for (const [labelValue, n] of values()) this.inc({ [label]: labelValue }, n);
      },
    });
  const labelledGauge = (name: string, help: string, label: string, values: () => Iterable<[string, number]>) =>
    new Gauge({
      name: PREFIX + name,
      help,
      labelNames: [label],
      registers,
      collect() {
        for (const [labelValue, n] of values()) this.set({ [label]: labelValue }, n);
      },
    });

  // The names of before, unchanged and without labels, so that existing dashboards keep working.
  counter('cache_hits_total', 'Reads answered from the cache', () => stats.cacheHits);
  counter('cache_misses_total', 'Reads that found nothing fresh in the cache', () => stats.cacheMisses);
  counter('cache_coalesced_reads_total', 'Misses that joined a fetch already in flight', () => stats.coalescedReads);
  counter('cache_evictions_total', 'Entries evicted at CACHE_CAPACITY or CACHE_MAX_MEMORY', () => stats.evictions);
  counter('cache_values_too_large_total', 'Values answered but not cached: over CACHE_MAX_VALUE_SIZE', () => stats.uncacheableValues);
  gauge('cache_entries', 'Entries held in the cache', () => cache.size);
  gauge('cache_bytes', 'Bytes held by the cached keys and values, with a fixed overhead per entry', () => cache.bytes);
  gauge('cache_inflight_fetches', 'Keys with a backend fetch in flight', () => cache.inflight);
  counter('backend_reads_total', 'GETs sent to the backing Redis', () => stats.backendReads);
  counter('backend_errors_total', 'Backend reads that failed (backend_read_errors_total has them by kind)', () => backendErrors(stats));
  counter('resp_commands_total', 'Commands executed on the RESP port (commands_total has them by name)', () => stats.commandsProcessed);
  counter('resp_connections_total', 'RESP connections accepted', () => stats.respConnectionsTotal);
  gauge('resp_clients', 'RESP connections open', () => stats.respClients);
  gauge('http_clients', 'HTTP connections open', () => stats.httpClients);
  counter('http_requests_total', 'HTTP requests received', () => stats.httpRequests);
  counter('rejected_connections_total', 'Connections refused at MAX_CLIENTS (rejected_clients_total has them by front end)', () => rejectedConnections(stats));
  counter('protocol_errors_total', 'RESP connections closed for a malformed request', () => stats.protocolErrors);
  counter(
    'tls_handshake_failures_total',
    'Connections to TLS_PORT or HTTPS whose TLS handshake failed (client certificate missing or untrusted, not TLS, timed out)',
    () => stats.tlsHandshakeFailures,
  );
  counter('auth_failures_total', 'Wrong passwords given, on the RESP port (AUTH, HELLO … AUTH) and over HTTP', () => stats.authFailures);
  counter('auth_timeouts_total', 'RESP connections closed for not authenticating within AUTH_TIMEOUT', () => stats.authTimeouts);
  counter('protected_mode_denied_total', 'Clients refused by protected mode: no password set, not from loopback', () => stats.protectedModeDenied);
  gauge('uptime_seconds', 'Seconds since the proxy started', () => uptimeSeconds(stats));

  // The same facts broken down by a label; each sums to its total above.
  labelledCounter(
    'backend_read_errors_total',
    'Backend reads that failed, by kind: Redis unreachable, no reply within REDIS_TIMEOUT, an error reply from Redis',
    'kind',
    () => [
      ['unavailable', stats.backendUnavailable],
      ['timeout', stats.backendTimeouts],
      ['reply', stats.backendReplyErrors],
    ],
  );
  labelledCounter(
    'commands_total',
    'Commands executed on the RESP port, by name (lower case; "unknown" for commands the proxy does not serve)',
    'command',
    () => [['get', stats.getCommands], ...stats.otherCommands, ['unknown', stats.unknownCommands]],
  );
  labelledGauge('clients', 'Connections open, by front end', 'front_end', () => [
    ['resp', stats.respClients],
    ['http', stats.httpClients],
  ]);
  labelledCounter('rejected_clients_total', 'Connections refused at MAX_CLIENTS, by front end', 'front_end', () => [
    ['resp', stats.respRejected],
    ['http', stats.httpRejected],
  ]);
  // Coherence: whether Redis tells the proxy of changes, and what was dropped and why.
  const TRACKING_STATES: readonly TrackingState[] = ['on', 'lost', 'unavailable', 'disabled', 'starting'];
  labelledGauge('tracking', 'CLIENT TRACKING on the fill connection: 1 for the state it is in', 'state', () =>
    TRACKING_STATES.map((state) => [state, proxy.tracking() === state ? 1 : 0]),
  );
  counter('tracking_invalidations_total', 'Invalidation messages from Redis (CLIENT TRACKING)', () => stats.trackingInvalidations);
  counter('tracking_invalidated_keys_total', "Keys Redis's invalidations named", () => stats.trackingInvalidatedKeys);
  counter('tracking_barriers_total', "Scripts' replies that waited for Redis's invalidations of the keys they wrote", () => stats.invalidationBarriers);
  counter('cache_invalidated_keys_total', 'Keys dropped because a write through the proxy changed them', () => stats.invalidatedKeys);
  counter('cache_stale_fills_total', 'Fills not stored: a write to their key was acknowledged while they were under way', () => stats.staleFills);
  labelledCounter('cache_flushes_total', 'The whole cache dropped, by cause', 'cause', () => [
    ['write', stats.flushesForWrites],
    ['redis', stats.flushesByRedis],
    ['tracking_lost', stats.flushesForTrackingLost],
  ]);
  labelledGauge('cache_entries_by_command', 'Entries held or being fetched, by the read command that made them', 'command', () => {
    const others = [...cache.entriesByCommand];
    return [['get', Math.max(0, cache.size - others.reduce((sum, [, n]) => sum + n, 0))], ...others];
  });
  counter('forwarded_commands_total', 'Commands forwarded to Redis on the shared connections', () => stats.forwardedCommands);
  gauge('pinned_connections', "Backend connections of clients' own (sessions, and idle ones kept for their client)", () => proxy.pinnedConnections());
  counter(
    'sentinel_switches_total',
    'Times the master moved (Redis Sentinel): each moved every backend connection and flushed the cache',
    () => stats.sentinelSwitches,
  );

  // The registry reads the collector through the same shape as its own metrics; its type names only those.
  registry.registerMetric(
    latencyCollector(
      `${PREFIX}backend_read_duration_seconds`,
      'Backend reply latency: from the write that sent a read to the socket read that brought its reply',
      stats.backendLatency,
    ) as unknown as Metric,
  );

  collectDefaultMetrics({ register: registry });

  const workers = proxy.workers;
  if (!workers) return { contentType: registry.contentType, render: () => registry.metrics() };
  const shared = workersRegistry(workers);
  return {
    contentType: registry.contentType,
    // Two registries, one exposition: their names differ (worker_*, all_workers_*, workers), and the
    // shared one carries no default label.
    render: async () => (await registry.metrics()) + (await shared.render()),
  };
}

/**
 * Every worker's main figures, whichever worker is scraped: `worker_<name>{worker="N"}` for each (its
 * own read now, the others' as the primary last sent them) and `all_workers_<name>`, their sum.
 */
function workersRegistry(workers: WorkersView): { render(): Promise<string> } {
  const registry = new Registry();
  const registers = [registry];
  // Read once per scrape, so that each total is the sum of the series shown beside it.
  let snapshot: [number, WorkerFigures][] = [];
  new Gauge({
    name: `${PREFIX}workers`,
    help: 'Worker processes the primary keeps running (WORKERS)',
    registers,
    collect() {
      this.set(workers.count);
    },
  });
  FIGURES.forEach((figure, i) => {
    const perWorker = { name: `${PREFIX}worker_${figure.metric}`, help: `${figure.help}, by worker`, labelNames: ['worker'], registers };
    const total = { name: `${PREFIX}all_workers_${figure.metric}`, help: `${figure.help}, summed over every worker`, registers };
    if (figure.type === 'counter') {
      new Counter({
        ...perWorker,
        collect() {
          this.reset();
          for (const [id, { values }] of snapshot) this.inc({ worker: String(id) }, values[i]);
        },
      });
      new Counter({
        ...total,
        collect() {
          this.reset();
          this.inc(totals(snapshot)[i]);
        },
      });
    } else {
      new Gauge({
        ...perWorker,
        collect() {
          this.reset();
          for (const [id, { values }] of snapshot) this.set({ worker: String(id) }, values[i]!);
        },
      });
      new Gauge({
        ...total,
        collect() {
          this.set(totals(snapshot)[i]!);
        },
      });
    }
  });
  return {
    render() {
      snapshot = workers.figures();
      return registry.metrics();
    },
  };
}
