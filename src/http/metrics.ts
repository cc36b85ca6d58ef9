// Owns the Prometheus text rendering of the proxy's counters for GET /metrics.
import type { ReadThrough } from '../cache/read-through.ts';
import { backendErrors, rejectedConnections, type Stats, uptimeSeconds } from '../stats.ts';

type Kind = 'counter' | 'gauge';

export function renderMetrics(stats: Stats, cache: ReadThrough): string {
  const rows: [name: string, kind: Kind, help: string, value: number][] = [
    ['cache_hits_total', 'counter', 'Reads answered from the cache', stats.cacheHits],
    ['cache_misses_total', 'counter', 'Reads that found nothing fresh in the cache', stats.cacheMisses],
    ['cache_coalesced_reads_total', 'counter', 'Misses that joined a fetch already in flight', stats.coalescedReads],
    ['cache_evictions_total', 'counter', 'Entries evicted at CACHE_CAPACITY or CACHE_MAX_MEMORY', stats.evictions],
    ['cache_values_too_large_total', 'counter', 'Values answered but not cached: over CACHE_MAX_VALUE_SIZE', stats.uncacheableValues],
    ['cache_entries', 'gauge', 'Entries held in the cache', cache.size],
    ['cache_bytes', 'gauge', 'Bytes held by the cached keys and values, with a fixed overhead per entry', cache.bytes],
    ['cache_inflight_fetches', 'gauge', 'Keys with a backend fetch in flight', cache.inflight],
    ['backend_reads_total', 'counter', 'GETs sent to the backing Redis', stats.backendReads],
    ['backend_errors_total', 'counter', 'Backend reads that failed', backendErrors(stats)],
    ['resp_commands_total', 'counter', 'Commands executed on the RESP port', stats.commandsProcessed],
    ['resp_connections_total', 'counter', 'RESP connections accepted', stats.respConnectionsTotal],
    ['resp_clients', 'gauge', 'RESP connections open', stats.respClients],
    ['http_clients', 'gauge', 'HTTP connections open', stats.httpClients],
    ['http_requests_total', 'counter', 'HTTP requests received', stats.httpRequests],
    ['rejected_connections_total', 'counter', 'Connections refused at MAX_CLIENTS', rejectedConnections(stats)],
    ['protocol_errors_total', 'counter', 'RESP connections closed for a malformed request', stats.protocolErrors],
    ['uptime_seconds', 'gauge', 'Seconds since the proxy started', uptimeSeconds(stats)],
  ];
  return rows
    .map(([name, kind, help, value]) => `# HELP redis_cache_proxy_${name} ${help}\n# TYPE redis_cache_proxy_${name} ${kind}\nredis_cache_proxy_${name} ${value}\n`)
    .join('');
}
