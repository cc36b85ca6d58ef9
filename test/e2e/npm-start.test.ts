// `npm start` as users run it: on the oldest Node the README claims (20), and stopped by a signal to npm rather than to node.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import test from 'ava';
import { Redis } from 'ioredis';
import { backendEnv, startProxy } from '../helpers/proxy-process.ts';
import { startRedis } from '../helpers/redis-server.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** A Node 20 binary: the machine's if it has one on the PATH, else the private copy scripts/node.sh installs (and caches). */
function node20(): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn('sh', [resolve(ROOT, 'scripts/node.sh'), '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', rej);
    child.once('exit', (code) => (code === 0 ? res(out.trim()) : rej(new Error(`scripts/node.sh 20 exited with ${code}`))));
  });
}

/** Whether process `pid` still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const field = (info: string, name: string) => new RegExp(`^${name}:(.*)\r?$`, 'm').exec(info)?.[1];

test('npm start runs the proxy on Node 20: it serves a value from Redis over RESP and HTTP, and INFO names Node 20', async (t) => {
  t.timeout(180_000, 'installing Node 20 may take a while the first time');
  const node = await node20();
  const redis = await startRedis();
  t.teardown(() => redis.close());
  await redis.client.set('on-node-20', 'yes');
  const proxy = await startProxy({ npm: true, node, env: backendEnv(redis) });
  t.teardown(() => proxy.stop());
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());

  t.regex(field(await client.info('proxy'), 'node_version') ?? '', /^v20\.\d+\.\d+$/);
  t.is(await client.get('on-node-20'), 'yes');
  const answer = await proxy.http('/query?key=on-node-20');
  t.is(answer.status, 200);
  t.is(await answer.text(), 'yes');
});

test('SIGTERM to npm (not node) stops the proxy: a read waiting on Redis is answered, node and npm exit 0, nothing is left running', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  await redis.client.set('during-stop', 'answered');
  const proxy = await startProxy({ npm: true, env: { ...backendEnv(redis), REDIS_TIMEOUT: '5' } });
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  const pid = Number(field(await client.info('proxy'), 'process_id'));
  // If npm did not pass the signal on, the proxy would outlive the test.
  t.teardown(() => alive(pid) && process.kill(pid, 'SIGKILL'));
  t.not(pid, proxy.child.pid, 'npm and the proxy are different processes');
  t.true(alive(pid));

  await redis.client.call('CLIENT', 'PAUSE', '500', 'ALL');
  const read = client.get('during-stop');
  await new Promise((r) => setTimeout(r, 100));
  t.is(await proxy.stop('SIGTERM'), 0);
  t.is(await read, 'answered');
  t.false(alive(pid), 'the proxy exited with npm');
  t.regex(proxy.output(), /SIGTERM received/);
});

test('npm start with WORKERS=2 on Node 20: both workers start and serve (a start message sent before a worker listened was lost there), and SIGTERM to npm stops them all', async (t) => {
  t.timeout(180_000, 'installing Node 20 may take a while the first time');
  const node = await node20();
  const redis = await startRedis();
  t.teardown(() => redis.close());
  await redis.client.set('on-node-20', 'twice');
  const proxy = await startProxy({ npm: true, node, env: { ...backendEnv(redis), WORKERS: '2' } });
  t.teardown(() => proxy.stop());
  const workers = new Map<string, number>();
  for (let i = 0; i < 10; i++) {
    const client = new Redis({ port: proxy.respPort });
    const info = await client.info('proxy');
    t.regex(field(info, 'node_version') ?? '', /^v20\.\d+\.\d+$/);
    t.is(await client.get('on-node-20'), 'twice');
    workers.set(field(info, 'worker_id')!, Number(field(info, 'process_id')));
    client.disconnect();
  }
  t.deepEqual([...workers.keys()].sort(), ['1', '2']);
  t.is(await proxy.stop('SIGTERM'), 0);
  t.deepEqual([...workers.values()].filter(alive), []);
});
