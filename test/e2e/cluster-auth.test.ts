// A Redis Cluster whose nodes want a password, or TLS: REDIS_URL's login and rediss:// reach every node (cache, shared and session connections); a wrong password is an error naming the cluster.
import test from 'ava';
import { Redis } from 'ioredis';
import { eventually } from '../helpers/eventually.ts';
import { EXTERNAL } from '../helpers/external.ts';
import { localOnly } from '../helpers/local-only.ts';
import { startClusterProxy, startProxy } from '../helpers/proxy-process.ts';
import { startRedisCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { makeTestCerts } from '../helpers/tls-certs.ts';

const clusterTest = localOnly('starts a Redis Cluster with a password and proxies in front of it');
let cluster: TestCluster;

if (!EXTERNAL) {
  test.before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0, password: 'cluster-s3cret' });
  });
  test.after.always(async () => {
    await cluster?.stop();
  });
}

clusterTest.serial("REDIS_URL's password logs every connection in: reads cached, writes, a transaction and a blocking pop on each master", async (t) => {
  // REDIS_URL's host and port are not used with REDIS_CLUSTER_NODES: only its login (and TLS).
  const proxy = await startClusterProxy(cluster, { REDIS_URL: 'redis://:cluster-s3cret@127.0.0.1:1' });
  t.teardown(() => proxy.stop());
  const client = new Redis({ port: proxy.respPort, protocol: 2 });
  t.teardown(() => client.disconnect());
  const keys = ['{a}k', '{b}k', '{c}k', '{d}k', '{e}k', '{f}k'];
  t.is(await client.mset(...keys.flatMap((k) => [k, `v ${k}`])), 'OK');
  t.deepEqual(
    await client.mget(...keys),
    keys.map((k) => `v ${k}`),
  );
  const direct = cluster.client();
  t.deepEqual(
    await Promise.all(keys.map((k) => direct.get(k))),
    keys.map((k) => `v ${k}`),
  );
  const masters = await cluster.masters();
  t.is(masters.length, 3);
  const gets = async () =>
    (await Promise.all(masters.map(async (m) => /^cmdstat_get:calls=(\d+)/m.exec(await cluster.node(m.port).info('commandstats'))?.[1] ?? '0'))).map(Number);
  const before = await gets();
  for (const k of keys) t.is(await client.get(k), `v ${k}`);
  t.deepEqual(await gets(), before, 'served from the cache');
  for (const k of keys) {
    t.deepEqual(await client.multi().incr(`${k}:n`).incr(`${k}:n`).exec(), [
      [null, 1],
      [null, 2],
    ]);
    t.is(await client.rpush(`${k}:list`, 'x'), 1);
    t.deepEqual(await client.blpop(`${k}:list`, 1), [`${k}:list`, 'x']);
  }
  t.is(await client.dbsize(), keys.length * 2);
});

clusterTest.serial('a wrong password: every command gets an error naming the cluster and why, and the proxy keeps serving errors, not crashing', async (t) => {
  const proxy = await startProxy({ env: { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_URL: 'redis://:wrong@127.0.0.1:1', REDIS_TIMEOUT: '0.5' } });
  t.teardown(() => proxy.stop());
  const client = new Redis({ port: proxy.respPort, protocol: 2, maxRetriesPerRequest: 0 });
  t.teardown(() => client.disconnect());
  for (const command of [() => client.get('k'), () => client.set('k', 'v'), () => client.dbsize()]) {
    const err = await t.throwsAsync(command());
    t.regex(err.message, /Redis Cluster \(.*\) is unavailable .*(WRONGPASS|invalid password|login refused)/);
  }
  t.is(await client.ping(), 'PONG');
});

clusterTest.serial(
  'a TLS-only cluster (tls-cluster yes) with a password: rediss:// with REDIS_TLS_CA_CERT_FILE reaches every master; cached, coherent',
  async (t) => {
    const certs = makeTestCerts();
    t.teardown(() => certs.remove());
    const tlsCluster = await startRedisCluster({
      masters: 3,
      replicasPerMaster: 0,
      password: 'tls-s3cret',
      tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert },
    });
    t.teardown(() => tlsCluster.stop());
    const proxy = await startClusterProxy(tlsCluster, { REDIS_URL: 'rediss://:tls-s3cret@127.0.0.1:1', REDIS_TLS_CA_CERT_FILE: certs.ca.cert });
    t.teardown(() => proxy.stop());
    t.regex(proxy.logs().find((l) => l.event === 'listening')!.msg, / backend=rediss-cluster:\/\//);
    const client = new Redis({ port: proxy.respPort, protocol: 2 });
    t.teardown(() => client.disconnect());
    const keys = ['{a}t', '{b}t', '{c}t', '{d}t'];
    t.is(await client.mset(...keys.flatMap((k) => [k, `v ${k}`])), 'OK');
    t.deepEqual(
      await client.mget(...keys),
      keys.map((k) => `v ${k}`),
    );
    const direct = tlsCluster.client();
    for (const k of keys) {
      t.is(await direct.get(k), `v ${k}`);
      // Changed straight on the cluster: Redis's invalidation, over TLS too, reaches the cache.
      await direct.set(k, `new ${k}`);
      await eventually(async () => (await client.get(k)) === `new ${k}`, `${k} seen new`, 2000);
    }
    t.is(await client.dbsize(), keys.length);
  },
);
