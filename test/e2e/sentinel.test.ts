// Redis Sentinel behind the proxy: the master found through the sentinels, followed through a crash and a clean failover, the cache flushed at each switch.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from '../helpers/eventually.ts';
import { localOnly } from '../helpers/local-only.ts';
import { type ProxyProcess, runProxyCommand, startProxy } from '../helpers/proxy-process.ts';
import { freePort, waitForPort } from '../helpers/redis-server.ts';
import { MASTER_NAME, type SentinelSet, startSentinelSet, type TestNode } from '../helpers/redis-sentinel.ts';

const sentinelTest = localOnly('starts a master, a replica and three sentinels of its own');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** `npm run test:faults` sets FAULTS_LONG: the load runs longer around the crash. */
const LONG = process.env.FAULTS_LONG === '1';

/** Calls of `command` in the node's INFO commandstats. */
async function calls(node: TestNode, command: string): Promise<number> {
  const stats = await node.client.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
}

async function role(node: TestNode): Promise<string> {
  return String(((await node.client.call('ROLE')) as unknown[])[0]);
}

/** The proxy's INFO proxy fields. */
async function proxyInfo(client: Redis): Promise<Record<string, string>> {
  const text = await client.info('proxy');
  return Object.fromEntries(
    text
      .split('\r\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}

/** A client of the proxy with ioredis's defaults (its retries on). */
function proxyClient(port: number): Redis {
  const client = new Redis({ port, protocol: 2 });
  client.on('error', () => {});
  return client;
}

/** A client that sees every error: no retries of its own, no queue while disconnected. */
function strictClient(port: number): Redis {
  const client = new Redis({ port, protocol: 2, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, retryStrategy: () => 20 });
  client.on('error', () => {});
  return client;
}

async function setUp(
  t: Parameters<Parameters<typeof sentinelTest>[1]>[0],
  env: Record<string, string> = {},
): Promise<{ set: SentinelSet; proxy: ProxyProcess }> {
  const set = await startSentinelSet();
  t.teardown(() => set.close());
  const proxy = await startProxy({ env: { ...set.env, ...env } });
  t.teardown(() => proxy.close());
  return { set, proxy };
}

sentinelTest('reads and writes through the proxy land on the master the sentinels name; hits are served from the cache', async (t) => {
  const { set, proxy } = await setUp(t);
  const [master, replica] = set.nodes as [TestNode, TestNode];
  const listening = await proxy.waitForLog((l) => l.event === 'listening', 'listening');
  t.is(listening.backend, `sentinel://${MASTER_NAME}`);
  t.regex(listening.msg, new RegExp(`backend=sentinel://${MASTER_NAME}$`));
  const found = await proxy.waitForLog((l) => l.event === 'sentinel_master', 'the master found');
  t.is(found.address, `127.0.0.1:${master.port}`);

  const client = proxyClient(proxy.respPort);
  t.teardown(() => client.disconnect());
  t.is(await client.set('hero', 'Batman'), 'OK');
  t.is(await master.client.get('hero'), 'Batman');
  const getsBefore = await calls(master, 'get');
  for (let i = 0; i < 5; i++) t.is(await client.get('hero'), 'Batman');
  // The first read filled the cache from the master; the other four were hits.
  t.is((await calls(master, 'get')) - getsBefore, 1);
  t.is(await calls(replica, 'get'), 0);

  const info = await proxyInfo(client);
  t.is(info.backend, `127.0.0.1:${master.port}`);
  t.is(info.backend_status, 'up');
  t.is(info.sentinel_master, MASTER_NAME);
  t.is(info.sentinel_switches, '0');
});

sentinelTest('a sentinel naming a replica is not believed: the proxy asks the next one and uses the real master', async (t) => {
  // A stale sentinel of its own: it watches "mymaster" at an address that answers ROLE as a replica (of
  // a port where nothing listens). Alone, with quorum 2, it never fails that over, so it keeps naming it.
  const [replicaPort, stalePort, nowhere] = await Promise.all([freePort(), freePort(), freePort()]);
  const replica = spawn('redis-server', ['--port', String(replicaPort), '--bind', '127.0.0.1', '--save', '', '--replicaof', '127.0.0.1', String(nowhere)], {
    stdio: 'ignore',
  });
  t.teardown(() => void replica.kill('SIGKILL'));
  await waitForPort(replicaPort, true);
  const dir = mkdtempSync(join(tmpdir(), 'rcp-stale-sentinel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 's.conf'), `port ${stalePort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor ${MASTER_NAME} 127.0.0.1 ${replicaPort} 2\n`);
  const stale = spawn('redis-server', [join(dir, 's.conf'), '--sentinel'], { stdio: 'ignore' });
  // Its directory goes once it has exited: a sentinel still running rewrites its configuration there.
  t.teardown(async () => {
    const exited = new Promise((r) => stale.once('exit', r));
    if (stale.exitCode === null && stale.signalCode === null && stale.kill('SIGKILL')) await exited;
  });
  await waitForPort(stalePort, true);

  const set = await startSentinelSet();
  t.teardown(() => set.close());
  const proxy = await startProxy({ env: { ...set.env, REDIS_SENTINELS: `127.0.0.1:${stalePort},${set.env.REDIS_SENTINELS}` } });
  t.teardown(() => proxy.close());
  const master = set.nodes[0]!;
  const client = proxyClient(proxy.respPort);
  t.teardown(() => client.disconnect());
  t.is(await client.set('k', 'v'), 'OK');
  t.is(await master.client.get('k'), 'v');
  t.is((await proxyInfo(client)).backend, `127.0.0.1:${master.port}`);
  const found = await proxy.waitForLog((l) => l.event === 'sentinel_master', 'the master found');
  t.is(found.address, `127.0.0.1:${master.port}`);
});

sentinelTest('no sentinel answers: the proxy serves errors naming the master and the sentinels it asked', async (t) => {
  const [a, b] = await Promise.all([freePort(), freePort()]);
  const proxy = await startProxy({ env: { REDIS_SENTINELS: `127.0.0.1:${a},127.0.0.1:${b}`, REDIS_SENTINEL_MASTER: MASTER_NAME, REDIS_TIMEOUT: '0.5' } });
  t.teardown(() => proxy.close());
  const client = strictClient(proxy.respPort);
  t.teardown(() => client.disconnect());
  await eventually(async () => (await proxyInfo(client)).backend_status === 'down', 'the backend to be down');
  const err = await t.throwsAsync(client.get('k'));
  t.regex(err.message, new RegExp(`^ERR backend Redis at sentinel://${MASTER_NAME} is unavailable \\(no master ${MASTER_NAME} found through the sentinels`));
  t.true(err.message.includes(`sentinel 127.0.0.1:${a}: connect ECONNREFUSED 127.0.0.1:${a}`), err.message);
  t.true(err.message.includes(`sentinel 127.0.0.1:${b}: connect ECONNREFUSED 127.0.0.1:${b}`), err.message);
  const http = await proxy.http('/query?key=k');
  t.is(http.status, 503);
  t.true((await http.text()).includes(`sentinel 127.0.0.1:${a}`));
});

sentinelTest("passwords: the master's login and database from REDIS_URL, the sentinels' from REDIS_SENTINEL_PASSWORD", async (t) => {
  const set = await startSentinelSet({ password: 'data-secret', sentinelPassword: 'sentinel-secret' });
  t.teardown(() => set.close());
  const master = set.nodes[0]!;
  // REDIS_URL's host and port are not used with Sentinel: the master's name reads well there.
  const env = { ...set.env, REDIS_URL: `redis://:data-secret@${MASTER_NAME}/2` };
  const proxy = await startProxy({ env: { ...env, REDIS_SENTINEL_PASSWORD: 'sentinel-secret' } });
  t.teardown(() => proxy.close());
  const client = proxyClient(proxy.respPort);
  t.teardown(() => client.disconnect());
  t.is(await client.set('k', 'v'), 'OK');
  await master.client.select(2);
  t.is(await master.client.get('k'), 'v');
  t.is((await proxy.http('/query?key=k')).status, 200);
  const start = proxy.logs().find((l) => l.event === 'start')!;
  t.deepEqual((start.settings as Record<string, unknown>).REDIS_SENTINEL_PASSWORD, { value: '***', from: 'environment' });
  t.false(proxy.output().includes('sentinel-secret'));

  // Without the sentinels' password, each refuses to say where the master is, and the error says so.
  const refused = await startProxy({ env: { ...env, REDIS_TIMEOUT: '0.5' } });
  t.teardown(() => refused.close());
  const other = strictClient(refused.respPort);
  t.teardown(() => other.disconnect());
  await eventually(async () => (await proxyInfo(other)).backend_status === 'down', 'the backend to be down');
  const err = await t.throwsAsync(other.get('k'));
  t.regex(err.message, new RegExp(`sentinel 127.0.0.1:${set.sentinels[0]!.port}: NOAUTH`));
});

/**
 * What a read may return while the master fails over: each key has one writer, which writes 1, 2, 3, …
 * in order. A read returns a value that was written to that key before it was sent: the last one
 * acknowledged, or an older one when the acknowledged write was lost with the old master (replication
 * is asynchronous), or a newer one whose write was sent but failed (it may have been applied). Never a
 * value that was not written, never nothing (each key held 0 on both nodes before the crash).
 */
interface Writer {
  key: string;
  /** The highest value sent in a SET so far. */
  sent: number;
}

sentinelTest.serial(
  'kill -9 of the master under reads and writes: errors only until the switch, then whole again without a restart, no wrong value',
  async (t) => {
    const { set, proxy } = await setUp(t);
    const [master, replica] = set.nodes as [TestNode, TestNode];
    const writers: Writer[] = Array.from({ length: 20 }, (_, i) => ({ key: `load:${i}`, sent: 0 }));
    await master.client.mset(Object.fromEntries(writers.map((w) => [w.key, '0'])));
    // On both nodes before the crash: a read can always fall back to 0.
    t.is(await master.client.call('WAIT', '1', '5000'), 1);

    const client = strictClient(proxy.respPort);
    t.teardown(() => client.disconnect());
    const errors: { at: number; message: string }[] = [];
    const wrong: string[] = [];
    let phase: 'before' | 'failover' | 'after' = 'before';
    let stop = false;
    /** In the last phase every read must be exactly the last write acknowledged. */
    let exactReads = 0;

    const worker = async (mine: Writer[]) => {
      for (let round = 0; !stop; round++) {
        const w = mine[round % mine.length]!;
        const value = ++w.sent;
        let acked = false;
        try {
          acked = (await client.set(w.key, String(value))) === 'OK';
        } catch (err) {
          errors.push({ at: Date.now(), message: `${phase}: SET: ${(err as Error).message}` });
        }
        const other = mine[(round + 1) % mine.length]!;
        for (const r of [w, other]) {
          const sentBefore = r.sent;
          let reply: string | null;
          try {
            reply = await client.get(r.key);
          } catch (err) {
            errors.push({ at: Date.now(), message: `${phase}: GET: ${(err as Error).message}` });
            continue;
          }
          const n = reply === null ? NaN : Number(reply);
          if (!(Number.isInteger(n) && n >= 0 && n <= sentBefore)) wrong.push(`${r.key}: got ${JSON.stringify(reply)}, sent up to ${sentBefore}`);
          if (phase === 'after' && r === w && acked) {
            exactReads++;
            if (n !== value) wrong.push(`${r.key}: read ${reply} right after ${value} was acknowledged, after the switch`);
          }
        }
        if (!acked) await sleep(5);
      }
    };
    const workers = [0, 1, 2, 3].map((i) => worker(writers.filter((_, j) => j % 4 === i)));

    await sleep(LONG ? 3000 : 500);
    t.deepEqual(errors, [], 'no error before the crash');
    phase = 'failover';
    const killedAt = Date.now();
    await set.kill(master.port);
    const switched = await proxy.waitForLog((l) => l.event === 'sentinel_switch', 'the switch', 20_000);
    t.is(switched.from, `127.0.0.1:${master.port}`);
    t.is(switched.to, `127.0.0.1:${replica.port}`);
    // Whole again: a write through the proxy is acknowledged, without the proxy restarting.
    await eventually(async () => (await client.set('probe', 'x').catch(() => null)) === 'OK', 'a write through the proxy', 10_000);
    const wholeAt = Date.now();
    phase = 'after';
    const errorsBeforeAfter = errors.length;
    await sleep(LONG ? 5000 : 1000);
    stop = true;
    await Promise.all(workers);

    t.true(await proxy.running(), 'the proxy kept running');
    t.deepEqual(wrong, [], 'no wrong value');
    t.is(
      errors.length,
      errorsBeforeAfter,
      `no error once whole again: ${errors
        .slice(errorsBeforeAfter, errorsBeforeAfter + 3)
        .map((e) => e.message)
        .join(' | ')}`,
    );
    t.true(errors.every((e) => e.at >= killedAt && e.at <= wholeAt));
    t.true(exactReads > 50, `reads checked exactly after the switch: ${exactReads}`);
    // The kinds of error seen (numbers elided): the lost connection, the dead master refusing, the sentinels still naming it.
    t.log(`${errors.length} errors in ${wholeAt - killedAt} ms: ${[...new Set(errors.map((e) => e.message.replace(/\d+/g, 'N')))].join(' | ')}`);

    // The promoted replica is the master now, and it is what the proxy reads and writes.
    t.is(await role(replica), 'master');
    const setsBefore = await calls(replica, 'set');
    t.is(await client.set('after', 'yes'), 'OK');
    t.is(await replica.client.get('after'), 'yes');
    t.is((await calls(replica, 'set')) - setsBefore, 1);
    const info = await proxyInfo(client);
    t.is(info.backend, `127.0.0.1:${replica.port}`);
    t.is(info.sentinel_switches, '1');
    t.regex(await (await proxy.http('/metrics')).text(), /^redis_cache_proxy_sentinel_switches_total 1$/m);
    // Every key through the proxy is what the new master holds.
    for (const w of writers) t.is(await client.get(w.key), await replica.client.get(w.key));
  },
);

sentinelTest.serial('SENTINEL FAILOVER: the proxy follows the clean switch, flushes its cache, and a transaction open on the old master fails', async (t) => {
  // Expiry alone keeps cached values: only the flush at the switch can explain a fresh read below.
  const { set, proxy } = await setUp(t, { CACHE_INVALIDATION: 'expiry', CACHE_EXPIRY: '3600' });
  const [master, replica] = set.nodes as [TestNode, TestNode];
  await master.client.set('hero', 'Batman');
  t.is(await master.client.call('WAIT', '1', '5000'), 1);
  const client = proxyClient(proxy.respPort);
  t.teardown(() => client.disconnect());
  t.is(await client.get('hero'), 'Batman');
  const getsBefore = await calls(master, 'get');
  t.is(await client.get('hero'), 'Batman');
  t.is(await calls(master, 'get'), getsBefore, 'the second read is a hit');

  // A client in a transaction, on a connection of its own to the old master.
  const inMulti = strictClient(proxy.respPort);
  t.teardown(() => inMulti.disconnect());
  t.is(await inMulti.call('MULTI'), 'OK');
  t.is(await inMulti.call('SET', 'tx', '1'), 'QUEUED');

  t.is(await set.sentinels[0]!.client.call('SENTINEL', 'FAILOVER', MASTER_NAME), 'OK');
  const switched = await proxy.waitForLog((l) => l.event === 'sentinel_switch', 'the switch', 20_000);
  t.is(switched.from, `127.0.0.1:${master.port}`);
  t.is(switched.to, `127.0.0.1:${replica.port}`);
  t.is(switched.master, MASTER_NAME);

  // Changed on the new master directly, right after the switch: read new through the proxy.
  await replica.client.set('hero', 'Robin');
  t.is(await client.get('hero'), 'Robin');

  const err = await t.throwsAsync(inMulti.call('EXEC'));
  t.regex(err.message, /connection of this session was lost.*moved/);

  t.is(await client.set('after', 'yes'), 'OK');
  t.is(await replica.client.get('after'), 'yes');
  t.is((await proxyInfo(client)).backend, `127.0.0.1:${replica.port}`);
});

localOnly('runs the entrypoint itself')('Sentinel settings that do not fit together exit with code 2 and one line naming them', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ REDIS_SENTINELS: '127.0.0.1:26379' }, /^redis-cache-proxy: REDIS_SENTINELS is set \(from environment\) but REDIS_SENTINEL_MASTER is not/],
    [{ REDIS_SENTINEL_MASTER: 'mymaster' }, /^redis-cache-proxy: REDIS_SENTINEL_MASTER is set \(from environment\) but REDIS_SENTINELS is not/],
    [{ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_HOST: '10.0.0.1' }, /^redis-cache-proxy: REDIS_HOST is set/],
    [{ REDIS_SENTINELS: '127.0.0.1', REDIS_SENTINEL_MASTER: 'mymaster' }, /^redis-cache-proxy: REDIS_SENTINELS must be a comma-separated list of host:port/],
    [{ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_MASTER: 'my master' }, /^redis-cache-proxy: REDIS_SENTINEL_MASTER must be/],
  ];
  for (const [env, pattern] of cases) {
    const { code, stderr } = await runProxyCommand({ env });
    t.is(code, 2, JSON.stringify(env));
    t.is(stderr.trim().split('\n').length, 1, stderr);
    t.regex(stderr, pattern);
  }
});
