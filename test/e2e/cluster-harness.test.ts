// The Redis Cluster the cluster tests stand on (test/helpers/redis-cluster.ts): created whole, keys where their slots say, resharded, failed over.
import { localOnly } from '../helpers/local-only.ts';
import { startRedisCluster, type LiveNode } from '../helpers/redis-cluster.ts';
import { eventually } from '../helpers/eventually.ts';

const clusterTest = localOnly('starts a Redis Cluster of its own');

const slotCount = (m: LiveNode) => m.slots.reduce((sum, [first, last]) => sum + last - first + 1, 0);

clusterTest(
  '3 masters with a replica each: 1000 keys written and read by a cluster-aware client sit on the master of their slot; reshard; failover',
  async (t) => {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    t.teardown(() => cluster.stop());
    t.is(cluster.nodes.length, 6);
    t.is(cluster.seeds.split(',').length, 6);
    t.deepEqual(cluster.nodes.map((n) => n.role).sort(), ['master', 'master', 'master', 'replica', 'replica', 'replica']);
    const masters = await cluster.masters();
    const replicas = await cluster.replicas();
    t.is(masters.length, 3);
    t.is(
      masters.map(slotCount).reduce((a, b) => a + b),
      16384,
    );
    t.deepEqual(replicas.map((r) => r.masterId).sort(), masters.map((m) => m.id).sort(), 'one replica per master');

    const client = cluster.client();
    const keys = Array.from({ length: 1000 }, (_, i) => `harness:${i}`);
    const value = (key: string) => `value of ${key}`;
    await Promise.all(keys.map((key) => client.set(key, value(key))));
    t.deepEqual(await Promise.all(keys.map((key) => client.get(key))), keys.map(value));

    // A plain client of the right master answers each key; one of another master would answer MOVED.
    const slotOf = async (key: string) => Number(await cluster.node(masters[0]!.port).cluster('KEYSLOT', key));
    const ownerOf = (slot: number, among: LiveNode[]) => among.find((m) => m.slots.some(([first, last]) => slot >= first && slot <= last))!;
    const slots = await Promise.all(keys.map(slotOf));
    const direct = await Promise.all(keys.map((key, i) => cluster.node(ownerOf(slots[i]!, masters).port).get(key)));
    t.deepEqual(direct, keys.map(value));
    const sizes = await Promise.all(masters.map((m) => cluster.node(m.port).dbsize()));
    t.true(
      sizes.every((n) => n > 200),
      `spread: ${sizes.join(', ')}`,
    );
    t.is(
      sizes.reduce((a, b) => a + b),
      1000,
    );
    // Replication is asynchronous: each replica catches up with its master.
    await eventually(async () => {
      const counts = await Promise.all(replicas.map(async (r) => [await cluster.node(r.port).dbsize(), sizes[masters.findIndex((m) => m.id === r.masterId)]]));
      return counts.every(([have, want]) => have === want);
    }, 'replicas holding what their masters hold');

    // 100 slots, keys and all, from the first master to the second.
    const [from, to] = [masters[0]!, masters[1]!];
    await cluster.reshard(from.port, to.port, 100);
    const after = await cluster.masters();
    t.is(slotCount(after.find((m) => m.id === from.id)!), slotCount(from) - 100);
    t.is(slotCount(after.find((m) => m.id === to.id)!), slotCount(to) + 100);
    const moved = keys.filter((_, i) => ownerOf(slots[i]!, after).id !== ownerOf(slots[i]!, masters).id);
    t.true(moved.length > 0, 'some keys were in the moved slots');
    t.true(
      moved.every((_, i) => ownerOf(slots[keys.indexOf(moved[i]!)]!, after).id === to.id),
      'they moved to the second master',
    );
    t.deepEqual(await Promise.all(moved.map((key) => cluster.node(to.port).get(key))), moved.map(value));
    t.deepEqual(await Promise.all(keys.map((key) => client.get(key))), keys.map(value));

    // kill -9 of the third master: its replica takes over, and every key is still there.
    const victim = after.find((m) => m.id === masters[2]!.id)!;
    const itsReplica = replicas.find((r) => r.masterId === victim.id)!;
    cluster.kill(victim.port);
    t.is(await cluster.waitForFailover(victim.port), itsReplica.port);
    const promoted = (await cluster.masters()).find((m) => m.port === itsReplica.port)!;
    t.deepEqual(promoted.slots, victim.slots);
    t.is((await cluster.masters()).length, 3);
    t.deepEqual(await Promise.all(keys.map((key) => client.get(key))), keys.map(value));
    t.is((await cluster.masterOf(keys.find((_, i) => ownerOf(slots[i]!, after).id === victim.id)!)).port, itsReplica.port);
  },
);
