// Owns INFO: the proxy's state in Redis's INFO layout, with the cache's counters in its stats.
import { VerbatimString } from '../resp/reply.ts';
import { backendErrors, rejectedConnections, uptimeSeconds } from '../stats.ts';
import { PROXY_NAME, PROXY_VERSION, REDIS_COMPAT_VERSION } from '../version.ts';
import { command, word } from './spec.ts';
import type { CommandSpec, ProxyContext } from './types.ts';

type Section = (proxy: ProxyContext) => [string, string | number][];

const SECTIONS: Record<string, Section> = {
  server: (proxy) => {
    const uptime = uptimeSeconds(proxy.stats);
    return [
      ['redis_version', REDIS_COMPAT_VERSION],
      ['proxy_name', PROXY_NAME],
      ['proxy_version', PROXY_VERSION],
      ['redis_mode', 'standalone'],
      ['os', `${process.platform} ${process.arch}`],
      ['arch_bits', 64],
      ['process_id', process.pid],
      ['node_version', process.version],
      ['tcp_port', proxy.ports.resp],
      ['http_port', proxy.ports.http],
      ['uptime_in_seconds', uptime],
      ['uptime_in_days', Math.floor(uptime / 86400)],
    ];
  },
  clients: (proxy) => [
    ['connected_clients', proxy.stats.respClients],
    ['http_clients', proxy.stats.httpClients],
    ['maxclients', proxy.config.maxClients],
    ['blocked_clients', 0],
  ],
  memory: () => {
    const m = process.memoryUsage();
    return [
      ['used_memory', m.heapUsed + m.external],
      ['used_memory_rss', m.rss],
      ['used_memory_heap', m.heapUsed],
      ['used_memory_external', m.external],
      ['maxmemory', 0],
    ];
  },
  // Clients such as ioredis check `loading` before they call a connection ready.
  persistence: () => [['loading', 0]],
  stats: ({ stats, readThrough }) => [
    ['total_connections_received', stats.respConnectionsTotal],
    ['total_commands_processed', stats.commandsProcessed],
    ['rejected_connections', rejectedConnections(stats)],
    ['protocol_errors', stats.protocolErrors],
    ['http_requests', stats.httpRequests],
    ['cache_hits', stats.cacheHits],
    ['cache_misses', stats.cacheMisses],
    ['cache_coalesced_reads', stats.coalescedReads],
    ['cache_evictions', stats.evictions],
    ['cache_values_too_large', stats.uncacheableValues],
    ['cache_inflight_fetches', readThrough.inflight],
    ['backend_reads', stats.backendReads],
    ['backend_errors', backendErrors(stats)],
  ],
  replication: () => [
    ['role', 'master'],
    ['connected_slaves', 0],
  ],
  cache: ({ config, readThrough, backend }) => [
    ['cache_entries', readThrough.size],
    ['cache_capacity', config.cacheCapacity],
    ['cache_bytes', readThrough.bytes],
    ['cache_max_memory', config.cacheMaxMemory],
    ['cache_max_value_size', config.cacheMaxValueSize],
    ['cache_expiry_seconds', config.cacheExpiryMs / 1000],
    ['backend', backend.address],
    ['backend_status', backend.isReady() ? 'up' : 'down'],
    ['backend_down_reason', backend.unavailableReason],
  ],
  // The cache's entries stand in for keys; every entry expires.
  keyspace: ({ readThrough }) => (readThrough.size > 0 ? [['db0', `keys=${readThrough.size},expires=${readThrough.size},avg_ttl=0`]] : []),
};

const DEFAULT_SECTIONS = Object.keys(SECTIONS);

function renderInfo(proxy: ProxyContext, requested: string[]): string {
  const wanted = requested.length === 0 || requested.some((s) => s === 'default' || s === 'all' || s === 'everything') ? DEFAULT_SECTIONS : requested;
  const blocks: string[] = [];
  for (const name of DEFAULT_SECTIONS) {
    if (!wanted.includes(name)) continue;
    const title = name[0]!.toUpperCase() + name.slice(1);
    const lines = SECTIONS[name]!(proxy).map(([k, v]) => `${k}:${v}\r\n`);
    blocks.push(`# ${title}\r\n${lines.join('')}`);
  }
  return blocks.join('\r\n');
}

export const infoCommand: CommandSpec = command({
  name: 'info',
  arity: -1,
  flags: ['loading', 'stale'],
  aclCategories: ['@slow', '@dangerous'],
  group: 'server',
  summary: "Returns the proxy's state and counters, including cache hits, misses and evictions.",
  complexity: 'O(1)',
  arguments: [{ name: 'section', type: 'string', optional: true, multiple: true }],
  handler: ({ proxy }, args) => new VerbatimString(renderInfo(proxy, args.slice(1).map(word))),
});
