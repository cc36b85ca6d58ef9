// Owns INFO: Redis's own INFO, forwarded, with the proxy's sections (Proxy, Cache) added.
import { encodeCommand } from '../resp/command-encoder.ts';
import { VerbatimString } from '../resp/reply.ts';
import { parseReply } from '../resp/reply-reader.ts';
import { backendErrors, rejectedConnections, uptimeSeconds } from '../stats.ts';
import { PROXY_NAME, PROXY_VERSION } from '../version.ts';
import { FIGURES, totals, type WorkersView } from '../worker-figures.ts';
import { command, word } from './spec.ts';
import type { CommandSpec, ProxyContext } from './types.ts';

type Section = (proxy: ProxyContext) => [string, string | number][];

/** The proxy's own sections; every other section is Redis's. */
const SECTIONS: Record<string, Section> = {
  proxy: (proxy) => {
    const fill = proxy.backends.fill;
    const m = process.memoryUsage();
    return [
      ['proxy_name', PROXY_NAME],
      ['proxy_version', PROXY_VERSION],
      ['node_version', process.version],
      ['process_id', process.pid],
      ['tcp_port', proxy.ports.resp],
      ['tls_port', proxy.ports.tls],
      ['http_port', proxy.ports.http],
      ['uptime_in_seconds', uptimeSeconds(proxy.stats)],
      ['connected_clients', proxy.stats.respClients],
      ['http_clients', proxy.stats.httpClients],
      ['maxclients', proxy.config.maxClients],
      ['total_connections_received', proxy.stats.respConnectionsTotal],
      ['total_commands_processed', proxy.stats.commandsProcessed],
      ['forwarded_commands', proxy.stats.forwardedCommands],
      ['rejected_connections', rejectedConnections(proxy.stats)],
      ['protocol_errors', proxy.stats.protocolErrors],
      ['tls_handshake_failures', proxy.stats.tlsHandshakeFailures],
      ['auth_failures', proxy.stats.authFailures],
      ['auth_timeouts', proxy.stats.authTimeouts],
      ['protected_mode_denied', proxy.stats.protectedModeDenied],
      ['http_requests', proxy.stats.httpRequests],
      ['pinned_connections', proxy.backends.pinned.open],
      ['max_pinned_connections', proxy.config.maxPinnedConnections],
      ['used_memory_rss', m.rss],
      ['used_memory_heap', m.heapUsed],
      ['backend', fill.address],
      ['backend_status', fill.isReady() ? 'up' : 'down'],
      ['backend_down_reason', fill.unavailableReason],
      // With Sentinel, `backend` above is the master's address now.
      ...(proxy.config.sentinel
        ? ([
            ['sentinel_master', proxy.config.sentinel.masterName],
            ['sentinel_switches', proxy.stats.sentinelSwitches],
          ] satisfies [string, string | number][])
        : []),
      ...(proxy.workers ? workerLines(proxy.workers) : []),
    ];
  },
  cache: ({ config, readThrough, stats, backends }) => [
    ['cache_entries', readThrough.size],
    // GET's entries are the rest: the others are indexed by the keys they read.
    ['cache_entries_by_command', [...readThrough.entriesByCommand].map(([command, n]) => `${command}=${n}`).join(',')],
    ['cache_capacity', config.cacheCapacity],
    ['cache_bytes', readThrough.bytes],
    ['cache_max_memory', config.cacheMaxMemory],
    ['cache_max_value_size', config.cacheMaxValueSize],
    ['cache_expiry_seconds', config.cacheExpiryMs / 1000],
    ['cache_hits', stats.cacheHits],
    ['cache_misses', stats.cacheMisses],
    ['cache_coalesced_reads', stats.coalescedReads],
    ['cache_evictions', stats.evictions],
    ['cache_values_too_large', stats.uncacheableValues],
    ['cache_inflight_fetches', readThrough.inflight],
    ['cache_invalidated_keys', stats.invalidatedKeys],
    ['cache_stale_fills_dropped', stats.staleFills],
    ['cache_flushes', stats.flushesForWrites + stats.flushesByRedis + stats.flushesForTrackingLost],
    ['cache_flushes_for_writes', stats.flushesForWrites],
    ['cache_flushes_by_redis', stats.flushesByRedis],
    ['cache_flushes_for_tracking_lost', stats.flushesForTrackingLost],
    ['tracking', backends.fill.tracking],
    ['tracking_reason', backends.fill.trackingReason],
    ['tracking_invalidations', stats.trackingInvalidations],
    ['tracking_invalidated_keys', stats.trackingInvalidatedKeys],
    ['tracking_barriers', stats.invalidationBarriers],
    ['backend_reads', stats.backendReads],
    ['backend_errors', backendErrors(stats)],
  ],
};

/**
 * WORKERS > 1: which worker answers, one line per worker in the form of Redis's `db0:keys=…` and
 * `slave0:ip=…` (parsers of INFO read those), and the sums of exactly the lines shown.
 */
function workerLines(workers: WorkersView): [string, string | number][] {
  const all = workers.figures();
  const sums = totals(all);
  return [
    ['worker_id', workers.id],
    ['workers', workers.count],
    ...all.map(([id, { pid, values }]): [string, string] => [`worker${id}`, [`pid=${pid}`, ...FIGURES.map((f, i) => `${f.info}=${values[i]}`)].join(',')]),
    ...FIGURES.map((f, i): [string, number] => [`all_workers_${f.info}`, sums[i]!]),
  ];
}

const ALL = new Set(['default', 'all', 'everything']);

function renderSections(proxy: ProxyContext, names: readonly string[]): string {
  return names
    .map((name) => {
      const lines = SECTIONS[name]!(proxy).map(([k, v]) => `${k}:${v}\r\n`);
      return `# ${name[0]!.toUpperCase()}${name.slice(1)}\r\n${lines.join('')}`;
    })
    .join('\r\n');
}

/** Redis's INFO for `sections` (all of its defaults when empty), or '' when Redis cannot be asked. */
async function backendInfo(proxy: ProxyContext, db: number, sections: readonly Buffer[]): Promise<string> {
  try {
    const args = [Buffer.from('INFO'), ...sections];
    const frame = await proxy.backends.forward(2, db, encodeCommand(args), args);
    const reply = parseReply(frame);
    return reply instanceof Buffer ? reply.toString('latin1') : '';
  } catch {
    return '';
  }
}

export const infoCommand: CommandSpec = command({
  name: 'info',
  arity: -1,
  flags: ['loading', 'stale'],
  aclCategories: ['@slow', '@dangerous'],
  group: 'server',
  summary: "Returns Redis's INFO with the proxy's sections (Proxy, Cache) added.",
  complexity: 'O(1)',
  arguments: [{ name: 'section', type: 'string', optional: true, multiple: true }],
  handler: async ({ proxy, client }, args) => {
    const requested = args.slice(1);
    const names = requested.map(word);
    const everything = names.length === 0 || names.some((n) => ALL.has(n));
    const ours = everything ? Object.keys(SECTIONS) : Object.keys(SECTIONS).filter((n) => names.includes(n));
    const theirs = everything ? requested : requested.filter((_, i) => !(names[i]! in SECTIONS));
    // Monitoring tools read Redis's fields through the proxy (redis_version, used_memory, # Keyspace).
    const redis = everything || theirs.length > 0 ? await backendInfo(proxy, client.db, theirs) : '';
    const own = renderSections(proxy, ours);
    const text = redis === '' ? own : own === '' ? redis : `${redis.replace(/(\r\n)+$/, '')}\r\n\r\n${own}`;
    return new VerbatimString(text);
  },
});
