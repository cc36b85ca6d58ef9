// SIGTERM: stop accepting, answer every request already received (RESP and HTTP), then close the backend and exit 0; a second signal a second later exits at once.
import net from 'node:net';
import { localOnly } from '../helpers/local-only.ts';
import { pipelinedGetsOnNewConnection } from '../helpers/pipelined-gets.ts';
import { startRedisAndProxy } from '../helpers/proxy-process.ts';
import { connectRaw } from '../helpers/raw-client.ts';

/** Against an external proxy these are skipped: each signals the proxy. */
const signalTest = localOnly('signals the proxy');
import { waitForOutput } from '../helpers/tools.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

signalTest.serial('SIGTERM with misses queued behind MAX_PARALLEL and an HTTP read in flight: every one is answered, then exit 0', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { MAX_PARALLEL: '1' });
  const count = 100;
  await redis.client.mset(Object.fromEntries(Array.from({ length: count }, (_, i) => [`key:${i}`, `value:${i}`])));
  // Redis holds every command for 500 ms: the misses wait in the proxy, one in flight, 99 queued.
  await redis.client.call('CLIENT', 'PAUSE', '500', 'ALL');
  const resp = pipelinedGetsOnNewConnection(proxy.respPort, 'key:', count);
  const http = proxy.http('/query?key=key:7');
  await sleep(100);
  const exit = proxy.stop('SIGTERM');
  await sleep(50);
  await t.throwsAsync(
    new Promise<void>((resolve, reject) => net.connect(proxy.respPort, '127.0.0.1', () => resolve()).on('error', reject)),
    { message: /ECONNREFUSED/ },
    'no new connections once shutdown began',
  );
  const replies = await resp;
  t.deepEqual(
    replies,
    Array.from({ length: count }, (_, i) => `value:${i}`),
  );
  const answer = await http;
  t.is(answer.status, 200);
  t.is(await answer.text(), 'value:7');
  t.is(await exit, 0);
  t.regex(proxy.output(), /SIGTERM received: no new connections/);
});

signalTest.serial('a request still owed after SHUTDOWN_TIMEOUT is cut, and the proxy exits 0', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { SHUTDOWN_TIMEOUT: '0.3', REDIS_TIMEOUT: '5' });
  await redis.client.set('key:0', 'v');
  await redis.client.call('CLIENT', 'PAUSE', '3000', 'ALL');
  const resp = pipelinedGetsOnNewConnection(proxy.respPort, 'key:', 1);
  await sleep(100);
  const started = Date.now();
  t.is(await proxy.stop('SIGTERM'), 0);
  t.true(Date.now() - started < 2500, 'did not wait for Redis');
  t.deepEqual(await resp, []);
  t.regex(proxy.output(), /still owed replies after 300 ms/);
});

signalTest.serial('a second SIGTERM, a second or more after the first, exits at once', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '8' });
  await redis.client.set('key:0', 'v');
  await redis.client.call('CLIENT', 'PAUSE', '5000', 'ALL');
  void pipelinedGetsOnNewConnection(proxy.respPort, 'key:', 1).catch(() => {});
  await sleep(100);
  const started = Date.now();
  proxy.child.kill('SIGTERM');
  await sleep(1200);
  t.is(await proxy.stop('SIGTERM'), 1);
  t.true(Date.now() - started < 3500, 'did not wait for the drain');
  t.regex(proxy.output(), /received again, exiting at once/);
});

signalTest.serial(
  'a client blocked on BLPOP 0, or subscribed, does not hold the shutdown: it is answered with an error, and the proxy exits 0 at once',
  async (t) => {
    const { proxy } = await startRedisAndProxy(t);
    const blocked = await connectRaw(proxy.respPort);
    const subscriber = await connectRaw(proxy.respPort);
    t.teardown(() => [blocked, subscriber].forEach((c) => c.destroy()));
    blocked.write('BLPOP nothing-comes 0\r\n');
    subscriber.write('SUBSCRIBE quiet\r\n');
    await subscriber.readUntil((r) => r.endsWith(':1\r\n'));
    await sleep(100);
    const started = Date.now();
    t.is(await proxy.stop('SIGTERM'), 0);
    t.true(Date.now() - started < 3000, `took ${Date.now() - started} ms; SHUTDOWN_TIMEOUT is 10 s`);
    t.is(await blocked.closed(), '-ERR the proxy is shutting down\r\n');
  },
);

signalTest.serial('two SIGINTs at once, as Ctrl-C under npm start delivers them (terminal and npm), are one request: drained, exit 0', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '5' });
  await redis.client.set('key:0', 'v');
  await redis.client.call('CLIENT', 'PAUSE', '1000', 'ALL');
  const resp = pipelinedGetsOnNewConnection(proxy.respPort, 'key:', 1);
  await sleep(100);
  proxy.child.kill('SIGINT');
  // The second comes once the first was handled (two sent before that would merge into one delivery).
  await waitForOutput(proxy.child, /SIGINT received/, 'the first SIGINT');
  t.is(await proxy.stop('SIGINT'), 0);
  t.deepEqual(await resp, ['v']);
  t.regex(proxy.output(), /SIGINT received: no new connections/);
  t.notRegex(proxy.output(), /received again/);
});
