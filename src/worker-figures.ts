// Owns the figures each worker shares with the others (WORKERS > 1): which they are, reading them from one worker, and their totals.
import type { ReadThrough } from './cache/read-through.ts';
import type { Stats } from './stats.ts';

/** One figure every worker reports: its INFO field, its metric name, and how it is read from the worker's own counters. */
interface Figure {
  /** The field in INFO's `# Proxy` or `# Cache`, as the worker's own figure is named there. */
  readonly info: string;
  /** The metric's name after the prefix, as the worker's own figure is named in /metrics. */
  readonly metric: string;
  readonly type: 'counter' | 'gauge';
  readonly help: string;
  read(stats: Stats, cache: ReadThrough): number;
}

/** The main counters, in the order every message and table carries them. */
export const FIGURES: readonly Figure[] = [
  { info: 'connected_clients', metric: 'resp_clients', type: 'gauge', help: 'RESP connections open', read: (s) => s.respClients },
  { info: 'http_clients', metric: 'http_clients', type: 'gauge', help: 'HTTP connections open', read: (s) => s.httpClients },
  {
    info: 'total_connections_received',
    metric: 'resp_connections_total',
    type: 'counter',
    help: 'RESP connections accepted',
    read: (s) => s.respConnectionsTotal,
  },
  {
    info: 'total_commands_processed',
    metric: 'resp_commands_total',
    type: 'counter',
    help: 'Commands executed on the RESP port',
    read: (s) => s.commandsProcessed,
  },
  { info: 'http_requests', metric: 'http_requests_total', type: 'counter', help: 'HTTP requests received', read: (s) => s.httpRequests },
  { info: 'cache_entries', metric: 'cache_entries', type: 'gauge', help: 'Entries held in the cache', read: (_, c) => c.size },
  { info: 'cache_bytes', metric: 'cache_bytes', type: 'gauge', help: 'Bytes held by the cached keys and values', read: (_, c) => c.bytes },
  { info: 'cache_hits', metric: 'cache_hits_total', type: 'counter', help: 'Reads answered from the cache', read: (s) => s.cacheHits },
  { info: 'cache_misses', metric: 'cache_misses_total', type: 'counter', help: 'Reads that found nothing fresh in the cache', read: (s) => s.cacheMisses },
  { info: 'backend_reads', metric: 'backend_reads_total', type: 'counter', help: 'GETs sent to the backing Redis', read: (s) => s.backendReads },
  {
    info: 'used_memory_rss',
    metric: 'resident_memory_bytes',
    type: 'gauge',
    help: 'Resident memory of the process',
    read: () => process.memoryUsage.rss(),
  },
];

/** One worker's figures: its process id, and FIGURES' values in their order. */
export interface WorkerFigures {
  readonly pid: number;
  readonly values: readonly number[];
}

/** Every worker's figures as one worker sees them: its own read now, the others' as the primary last sent them. */
export interface WorkersView {
  /** This worker's id, 1 to `count`; a worker started in place of one that died takes its id. */
  readonly id: number;
  /** WORKERS: how many the primary keeps running. */
  readonly count: number;
  /** By id, ascending; a worker that has not reported yet (just restarted) is absent. */
  figures(): [id: number, figures: WorkerFigures][];
}

export function readFigures(stats: Stats, cache: ReadThrough): WorkerFigures {
  return { pid: process.pid, values: FIGURES.map((f) => f.read(stats, cache)) };
}

/** FIGURES' values summed over `workers`. */
export function totals(workers: readonly [number, WorkerFigures][]): number[] {
  const sums = FIGURES.map(() => 0);
  for (const [, { values }] of workers) for (let i = 0; i < sums.length; i++) sums[i]! += values[i] ?? 0;
  return sums;
}

/** Whether `value` is a WorkerFigures as a message carries it (checked where it arrives from another process). */
export function isWorkerFigures(value: unknown): value is WorkerFigures {
  if (typeof value !== 'object' || value === null) return false;
  const { pid, values } = value as { pid?: unknown; values?: unknown };
  return (
    Number.isSafeInteger(pid) && Array.isArray(values) && values.length === FIGURES.length && values.every((v) => typeof v === 'number' && Number.isFinite(v))
  );
}
