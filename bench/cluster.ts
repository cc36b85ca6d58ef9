// Owns the benchmark's Redis Cluster phase: GET P1/P16 by redis-benchmark --cluster straight at a 3-master cluster, and through proxies in front of it.
import { NotInFrontOfCluster, startClusterProxy, type ProxyProcess } from '../test/helpers/proxy-process.ts';
import { startRedisCluster, type TestCluster } from '../test/helpers/redis-cluster.ts';
import { warm } from './targets.ts';
import { benchKey, KEYSPACE, type Measurement, redisBenchmark } from './workloads.ts';

export interface ClusterPhaseOptions {
  rounds: number;
  scale: number;
  log: (line: string) => void;
}

/** Values of the proxy's keys, 100 bytes as everywhere in the benchmark. */
const VALUE = Buffer.alloc(100, 0x76);

/** The proxy in front of `cluster`, or undefined with a note when this proxy has no cluster mode yet. */
async function clusterProxy(cluster: TestCluster, env: Record<string, string>, notes: string[]): Promise<ProxyProcess | undefined> {
  try {
    return await startClusterProxy(cluster, env);
  } catch (err) {
    const message = (err as Error).message;
    // A proxy without cluster mode ignores REDIS_CLUSTER_NODES (NotInFrontOfCluster) or refuses it at start (a config error naming it).
    if (!(err instanceof NotInFrontOfCluster) && !message.includes('REDIS_CLUSTER_NODES')) throw err;
    const reason = message.split('\n').find((line) => line.includes('REDIS_CLUSTER_NODES')) ?? message.split('\n')[0]!;
    const note = `GET P1/P16, Redis Cluster: the proxy rows were skipped, this proxy does not run in front of a Redis Cluster (${reason.trim()}).`;
    if (!notes.includes(note)) notes.push(note);
    return undefined;
  }
}

/**
 * GET P1 and P16 against a 3-master Redis Cluster (no replicas): `redis` is redis-benchmark --cluster straight at
 * it (every client to the master of its keys); `proxy-hit` and `proxy-miss` are plain redis-benchmark through a proxy
 * with REDIS_CLUSTER_NODES, every key cached or (capacity 1) nearly none. Measured under `<target>/CLUSTER-P<n>`.
 */
export async function clusterPhase(add: (key: string, m: Measurement) => void, notes: string[], { rounds, scale, log }: ClusterPhaseOptions): Promise<void> {
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
  const proxies: ProxyProcess[] = [];
  try {
    const seed = (await cluster.masters())[0]!.port;
    // redis-benchmark --cluster reads key:{tag}:<n>, each master its own tag: write them all first (-r over 30 times the keyspace).
    await redisBenchmark(seed, 16, KEYSPACE * 30, 'set', { cluster: true, dataSize: VALUE.length });
    // Through the proxy, redis-benchmark reads key:<n>, spread over the masters by their slots.
    const client = cluster.client();
    for (let start = 0; start < KEYSPACE; start += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, KEYSPACE - start) }, (_, j) => client.set(benchKey(start + j), VALUE)));
    }
    client.disconnect();

    const hit = await clusterProxy(cluster, { CACHE_CAPACITY: String(KEYSPACE * 2), CACHE_EXPIRY: '86400' }, notes);
    const miss = hit && (await clusterProxy(cluster, { CACHE_CAPACITY: '1', CACHE_EXPIRY: '86400' }, notes));
    for (const proxy of [hit, miss]) if (proxy) proxies.push(proxy);
    if (hit) {
      const cached = await warm(hit.respPort, KEYSPACE, benchKey);
      if (cached !== KEYSPACE) throw new Error(`warming the cluster proxy cached ${cached} of ${KEYSPACE} keys`);
    }
    const targets = [
      { name: 'redis', port: seed, cluster: true },
      ...(hit ? [{ name: 'proxy-hit', port: hit.respPort, cluster: false }] : []),
      ...(miss ? [{ name: 'proxy-miss', port: miss.respPort, cluster: false }] : []),
    ];
    for (const target of targets)
      for (const pipeline of [1, 16]) await redisBenchmark(target.port, pipeline, Math.round(50_000 * scale), 'get', { cluster: target.cluster });
    for (let round = 0; round < rounds; round++) {
      const order = <T>(xs: T[]) => (round % 2 === 0 ? xs : [...xs].reverse());
      for (const pipeline of [1, 16]) {
        const requests = Math.round((pipeline === 1 ? 200_000 : 1_000_000) * scale);
        for (const target of order(targets)) {
          const m = await redisBenchmark(target.port, pipeline, requests, 'get', { cluster: target.cluster });
          add(`${target.name}/CLUSTER-P${pipeline}`, m);
          log(`round ${round + 1} cluster P${pipeline} ${target.name}: ${Math.round(m.rps)} req/s p50 ${m.p50} ms p99 ${m.p99} ms`);
        }
      }
    }
    notes.push(
      `GET P1/P16, Redis Cluster: 3 masters, no replicas. redis = redis-benchmark --cluster -c 50 -r ${KEYSPACE} -t get straight at the cluster (keys key:{tag}:<n>, ${KEYSPACE} on each master); ` +
        `proxy-hit and proxy-miss = redis-benchmark -c 50 -r ${KEYSPACE} -t get through a proxy with REDIS_CLUSTER_NODES (keys key:<n> spread by slot; every key cached, or capacity 1). 100-byte values.`,
    );
  } finally {
    await Promise.all(proxies.map((p) => p.stop()));
    await cluster.stop();
  }
}
