// Redis Cluster changing under load behind the proxy: slots resharded, a master killed. Every value read is checked; only `npm run test:faults` runs these.
import { Redis } from 'ioredis';
import type { ExecutionContext } from 'ava';
import { eventually } from '../helpers/eventually.ts';
import { localOnly } from '../helpers/local-only.ts';
import { startOwnedKeysLoad, type LoadResult, type OwnedKeysLoad } from '../helpers/owned-keys-load.ts';
import { startClusterProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startRedisCluster, type LiveNode, type TestCluster } from '../helpers/redis-cluster.ts';

const faultTest = localOnly('starts a Redis Cluster and kills its nodes');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const slotCount = (m: LiveNode) => m.slots.reduce((sum, [first, last]) => sum + last - first + 1, 0);
const serves = (m: LiveNode, slot: number) => m.slots.some(([first, last]) => slot >= first && slot <= last);
const redirectedClients = (result: LoadResult) => result.errors.filter((e) => /^(MOVED|ASK) /.test(e.message));
const samples = (result: LoadResult, errors = result.errors) =>
  [...new Set(errors.map((e) => e.message))].slice(0, 10).join('\n') + (result.wrongSamples.length > 0 ? `\nwrong:\n${result.wrongSamples.join('\n')}` : '');

/** A cluster, the proxy in front of it (the same process throughout), and the checked load through the proxy. */
async function clusterUnderLoad(t: ExecutionContext, replicasPerMaster: number): Promise<{ cluster: TestCluster; proxy: ProxyProcess; load: OwnedKeysLoad }> {
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster });
  t.teardown(() => cluster.stop());
  const proxy = await startClusterProxy(cluster, { CACHE_EXPIRY: '3600' });
  t.teardown(() => proxy.close());
  const load = startOwnedKeysLoad({ port: proxy.respPort, clients: 16, keysPerClient: 50, prefix: 'owned' });
  t.teardown(() => load.stop());
  // Every key written once (or more), and read, before anything changes.
  await eventually(() => Promise.resolve(load.answered() > 5000), 'the load running through the proxy', 20_000);
  return { cluster, proxy, load };
}

/** The slot of each key, asked of the cluster. */
async function slotsOf(cluster: TestCluster, keys: readonly string[]): Promise<Map<string, number>> {
  const node = cluster.node((await cluster.masters())[0]!.port);
  return new Map(await Promise.all(keys.map(async (key) => [key, Number(await node.cluster('KEYSLOT', key))] as const)));
}

/** Every key, read straight from the cluster and through the proxy: the same value, and one its writes explain. */
async function checkEveryKey(t: ExecutionContext, cluster: TestCluster, proxy: ProxyProcess, load: OwnedKeysLoad) {
  const direct = cluster.client();
  const through = new Redis({ port: proxy.respPort, protocol: 2 });
  t.teardown(() => through.disconnect());
  const stored = await Promise.all(load.keys.map((key) => direct.get(key)));
  const unexplained = load.keys.filter((key, i) => !load.explains(key, stored[i]!));
  t.deepEqual(unexplained, [], 'what the cluster holds is what the load wrote');
  t.deepEqual(await through.mget(...load.keys), stored, 'the proxy answers what the cluster holds');
}

faultTest.serial('1000 slots resharded twice under a read/write load through the proxy: no wrong value, no MOVED or ASK, no error at all', async (t) => {
  const { cluster, proxy, load } = await clusterUnderLoad(t, 0);
  const slots = await slotsOf(cluster, load.keys);
  const before = await cluster.masters();
  const [a, b, c] = before as [LiveNode, LiveNode, LiveNode];
  // MOVED and ASK that the masters answered (INFO errorstats): the proxy's, since nothing else sends them keyed commands.
  const redirected = async () => {
    const stats = await Promise.all(before.map((m) => cluster.node(m.port).info('errorstats')));
    return stats.reduce((sum, text) => sum + [...text.matchAll(/^errorstat_(?:MOVED|ASK):count=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0), 0);
  };
  const redirectedBefore = await redirected();
  const answeredBefore = load.answered();
  await cluster.reshard(a.port, b.port, 1000);
  await cluster.reshard(b.port, c.port, 1000);
  await sleep(1000);
  const result = await load.stop();
  const redirections = (await redirected()) - redirectedBefore;

  const after = await cluster.masters();
  t.is(slotCount(after.find((m) => m.id === a.id)!), slotCount(a) - 1000);
  t.is(slotCount(after.find((m) => m.id === c.id)!), slotCount(c) + 1000);
  const ownerBefore = (key: string) => before.find((m) => serves(m, slots.get(key)!))!.id;
  const ownerAfter = (key: string) => after.find((m) => serves(m, slots.get(key)!))!.id;
  const moved = load.keys.filter((key) => ownerBefore(key) !== ownerAfter(key));
  t.true(moved.length > 20, `${moved.length} of the load's keys changed master`);
  t.true(result.answered - answeredBefore > 2000, `${result.answered - answeredBefore} requests answered while slots moved`);
  t.log(`${result.answered} requests answered, ${result.reads} reads checked, ${moved.length} keys moved, ${redirections} MOVED or ASK to the proxy`);
  // Else this test proved nothing about following them.
  t.true(redirections > 0, 'the masters redirected the proxy');

  t.is(result.wrong, 0, samples(result));
  t.is(redirectedClients(result).length, 0, samples(result, redirectedClients(result)));
  // A reshard is a planned change of a healthy cluster: a client of Redis Cluster that follows MOVED and
  // ASK (ioredis, redis-cli -c) sees no error, and neither may a client of the proxy.
  t.is(result.errors.length, 0, samples(result));
  t.true(await proxy.running());
  await checkEveryKey(t, cluster, proxy, load);
});

/*
 * kill -9 of a master under load. Errors are allowed from the kill until the proxy is whole again (a read
 * and a write through it succeed on every master, within a "did not hang" bound after the failover),
 * none before and none after; the proxy is the same process throughout.
 *
 * Wrong values: none, where "right" for a key the killed master served is, from the kill until a write
 * sent after the kill is acknowledged, its last acknowledged value or the one acknowledged before it
 * (and any write that failed). Redis replicates asynchronously: a master answers a write without waiting
 * for its replica, so its last acknowledged writes can die with it, and the replica that takes over holds
 * what came before. How far back: a replica on loopback, of a master this lightly loaded, is behind by at
 * most the master's last turn of its event loop, in which each client (one request in flight) has at most
 * one write. So one step back, not any older value: an older one is a wrong value.
 */
faultTest.serial(
  'kill -9 of a master under load: errors only until the failover is done, then whole again without restarting the proxy; no wrong value',
  async (t) => {
    const { cluster, proxy, load } = await clusterUnderLoad(t, 1);
    const slots = await slotsOf(cluster, load.keys);
    const [victim] = await cluster.masters();
    const onVictim = (key: string) => serves(victim!, slots.get(key)!);
    t.true(load.keys.filter(onVictim).length > 100);
    const pid = proxy.child.pid;

    const killedAt = performance.now();
    load.masterKilled(onVictim);
    cluster.kill(victim!.port);
    await cluster.waitForFailover(victim!.port);
    // Whole again: a write and a read through the proxy succeed for a key of every master.
    const probe = new Redis({ port: proxy.respPort, protocol: 2, maxRetriesPerRequest: 0, commandTimeout: 5000 });
    probe.on('error', () => {});
    t.teardown(() => probe.disconnect());
    const masters = await cluster.masters();
    const probes = masters.map((m) => load.keys.find((key) => serves(m, slots.get(key)!)) + ':probe');
    await eventually(
      async () => {
        try {
          await Promise.all(probes.map((key) => probe.set(key, key)));
          return (await probe.mget(...probes)).every((v, i) => v === probes[i]);
        } catch {
          return false;
        }
      },
      'the proxy whole again after the failover',
      15_000,
    );
    const wholeAt = performance.now();
    const answeredWhole = load.answered();
    await sleep(3000);
    const result = await load.stop();

    // In flight at the kill, or sent before the proxy was whole again.
    const window = result.errors.filter((e) => e.failedAt >= killedAt && e.sentAt <= wholeAt);
    const outside = result.errors.filter((e) => !window.includes(e));
    t.log(
      `${result.answered} requests answered, ${result.reads} reads checked; ${window.length} errors in the ${((wholeAt - killedAt) / 1000).toFixed(1)} s from the kill to whole again`,
    );
    t.is(result.wrong, 0, samples(result));
    t.is(redirectedClients(result).length, 0, samples(result, redirectedClients(result)));
    t.deepEqual(
      outside.map((e) => `${e.message} (sent ${((e.sentAt - killedAt) / 1000).toFixed(2)} s after the kill)`),
      [],
      'errors only between the kill and whole again',
    );
    t.true(result.answered - answeredWhole > 1000, `${result.answered - answeredWhole} requests answered once whole again`);
    t.true(await proxy.running());
    t.is(proxy.child.pid, pid);
    await checkEveryKey(t, cluster, proxy, load);
  },
);
