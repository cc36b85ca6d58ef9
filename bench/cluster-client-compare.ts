// Measures per-command cost of forwarding through ioredis's Cluster vs the proxy's own cluster connections (same process, same cluster).
// Run against a running cluster: REDIS_CLUSTER_NODES=127.0.0.1:7000 node --import tsx bench/cluster-client-compare.ts (AUTOPIPE=1: ioredis with enableAutoPipelining).
import { Cluster } from 'ioredis';
import { createClusterBackends } from '../src/backend/cluster/cluster-backends.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { createStats } from '../src/stats.ts';
import { encodeCommand } from '../src/resp/command-encoder.ts';

const N = 200_000,
  WINDOW = 800;
const keys = Array.from({ length: 1000 }, (_, i) => `key:${i}`);
async function run(send: (key: string) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (next < N) {
        await send(keys[next++ % keys.length]!);
      }
    }),
  );
  return N / ((performance.now() - t0) / 1000);
}
const seeds = (process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:30001').split(',');
const cluster = new Cluster(
  seeds.map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) })),
  { enableAutoPipelining: process.env.AUTOPIPE === '1' },
);
const loaded = loadConfig({ argv: [], env: { REDIS_CLUSTER_NODES: seeds.join(','), CACHE_INVALIDATION: 'expiry' } });
if (loaded.kind !== 'config') throw new Error('config');
const log = createLogger({ level: 'error', format: 'json', colorize: false });
const own = createClusterBackends(loaded.config, createStats(), { onInvalidate() {}, onTrackingLost() {} }, log);
await own.fill.waitReady(3000);
await cluster.get('warm');
for (let round = 0; round < 3; round++) {
  const a = await run((k) => cluster.get(k));
  const b = await run((k) => {
    const args = [Buffer.from('GET'), Buffer.from(k)];
    return own.forward(2, 0, encodeCommand(args), args);
  });
  console.log(`round ${round}: ioredis Cluster ${Math.round(a)} GET/s, own connections ${Math.round(b)} GET/s, ratio ${(b / a).toFixed(2)}`);
}
cluster.disconnect();
await own.close();
process.exit(0);
