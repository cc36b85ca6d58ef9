// Owns which workloads and targets a run reports, in their fixed order: the rows of the table and the bars of the chart.
import type { Measurement } from './workloads.ts';

/** Every target a run can measure, in the order they are reported and coloured. */
export const TARGETS = [
  'redis',
  'twemproxy',
  'proxy-hit',
  'proxy-miss',
  'base-hit',
  'base-miss',
  'workers-1',
  'workers-2',
  'proxy-http',
  'bare-node-http',
] as const;

export interface WorkloadRuns {
  /** As the table names it: `GET P1`, `GET P16`, `HTTP GET`. */
  workload: string;
  http: boolean;
  /** The targets measured under this workload, in TARGETS order. */
  runs: { target: string; m: Measurement }[];
}

const WORKLOADS = [
  { workload: 'GET P1', http: false, key: (target: string) => `${target}/P1` },
  { workload: 'GET P16', http: false, key: (target: string) => `${target}/P16` },
  { workload: 'GET P1 over TLS', http: false, key: (target: string) => `${target}/TLS-P1` },
  { workload: 'GET P16 over TLS', http: false, key: (target: string) => `${target}/TLS-P16` },
  { workload: 'GET P1, Redis Cluster', http: false, key: (target: string) => `${target}/CLUSTER-P1` },
  { workload: 'GET P16, Redis Cluster', http: false, key: (target: string) => `${target}/CLUSTER-P16` },
  { workload: 'SET P1', http: false, key: (target: string) => `${target}/SET-P1` },
  { workload: 'SET P16', http: false, key: (target: string) => `${target}/SET-P16` },
  { workload: 'MIXED 90/10', http: false, key: (target: string) => `${target}/mixed` },
  { workload: 'GET P1, none blocked', http: false, key: (target: string) => `${target}/P1-unblocked` },
  { workload: 'GET P1, 50 blocked', http: false, key: (target: string) => `${target}/P1-blocked` },
  { workload: 'GET P1, no password', http: false, key: (target: string) => `${target}/P1-no-password` },
  { workload: 'GET P1 with PROXY_PASSWORD', http: false, key: (target: string) => `${target}/P1-password` },
  { workload: 'HGETALL P1', http: false, key: (target: string) => `${target}/HGETALL-P1` },
  { workload: 'HGETALL P16', http: false, key: (target: string) => `${target}/HGETALL-P16` },
  { workload: 'WRITE-HEAVY 50/50 reads', http: false, key: (target: string) => `${target}/write-heavy` },
  { workload: 'HTTP GET', http: true, key: (target: string) => target },
];
const HTTP_TARGETS: readonly string[] = ['proxy-http', 'bare-node-http'];

/** The measured workloads of a run's medians (keyed `target/P<pipeline>` for RESP, by target for HTTP); unmeasured ones are left out. */
export function measuredWorkloads(medians: Record<string, Measurement>): WorkloadRuns[] {
  return WORKLOADS.map(({ workload, http, key }) => ({
    workload,
    http,
    runs: TARGETS.filter((target) => HTTP_TARGETS.includes(target) === http).flatMap((target) => {
      const m = medians[key(target)];
      return m ? [{ target, m }] : [];
    }),
  })).filter((w) => w.runs.length > 0);
}
