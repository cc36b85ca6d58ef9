// HTTP under slow, silent and idle clients: header timeouts answered 408, and MAX_CLIENTS that slowloris cannot lock.
import test from 'ava';
import { Redis } from 'ioredis';
import type { Address } from '../helpers/external.ts';
import { localOnly } from '../helpers/local-only.ts';
import { redisAndProxyUnderTest, startRedisAndProxy, type TestProxy } from '../helpers/proxy-process.ts';
import { connectRaw, type RawClient } from '../helpers/raw-client.ts';

/** A request whose headers never end: the blank line that completes them is not sent. */
const UNFINISHED_HEADERS = 'GET /query?key=a HTTP/1.1\r\nHost: x\r\n';

/**
 * "Did not hang" bounds, not timings: the proxy closes a request whose headers are not complete 5 s after it
 * began (checked each second); an answer that has to wait for that cannot come within the first bound.
 */
const PROMPTLY_MS = 2500;
const PAST_HEADER_TIMEOUT_MS = 15_000;

async function metric(proxy: TestProxy, name: string): Promise<number> {
  const text = await (await proxy.http('/metrics', { signal: AbortSignal.timeout(PROMPTLY_MS) })).text();
  return Number(new RegExp(`^redis_cache_proxy_${name} (\\d+)$`, 'm').exec(text)![1]);
}

/** Opens `n` raw connections one after the other, so the proxy accepts them in this order; closed when `t` ends. */
async function openRaw(t: { teardown(fn: () => void): void }, to: number | Address, n: number): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  for (let i = 0; i < n; i++) clients.push(await connectRaw(to));
  return clients;
}

/** A complete HTTP/1.1 response in `received` (the proxy always sends Content-Length). */
function completeResponse(received: string): boolean {
  const end = received.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const length = /\r\ncontent-length: (\d+)\r\n/i.exec(received.slice(0, end + 2));
  return length !== null && received.length >= end + 4 + Number(length[1]);
}

localOnly('starts a proxy with MAX_CLIENTS=50')(
  'with every MAX_CLIENTS slot held by unfinished headers, /health and /query still answer at once',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { MAX_CLIENTS: '50' });
    await redis.client.set('a', 'value-of-a');
    // All are connected (in the listen queue, in this order) before the next request's connection opens.
    const slow = await openRaw(t, proxy.httpPort, 50);
    for (const client of slow) client.write(UNFINISHED_HEADERS);

    const health = await proxy.http('/health', { signal: AbortSignal.timeout(PROMPTLY_MS) });
    t.is(health.status, 200);
    t.like(await health.json(), { status: 'ok' });
    const value = await proxy.http('/query?key=a', { signal: AbortSignal.timeout(PROMPTLY_MS) });
    t.is(value.status, 200);
    t.is(await value.text(), 'value-of-a');

    // The oldest connection with no request being answered was closed to make room, without a reply.
    t.is(await slow[0]!.closed(PROMPTLY_MS), '');
    t.is(await metric(proxy, 'http_clients'), 50);
    t.is(await metric(proxy, 'rejected_connections_total'), 0);
  },
);

test('a request whose headers stop arriving, and a connection that sends nothing, are answered 408 and closed', async (t) => {
  const { proxy } = await redisAndProxyUnderTest(t);
  const [stalled, silent] = await openRaw(t, proxy.httpAddress, 2);
  stalled!.write(UNFINISHED_HEADERS);
  for (const received of [await stalled!.closed(PAST_HEADER_TIMEOUT_MS), await silent!.closed(PAST_HEADER_TIMEOUT_MS)]) {
    t.regex(received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    t.regex(received, /\r\nConnection: close\r\n/i);
  }
  t.is((await proxy.http('/health')).status, 200, 'the proxy serves on');
});

test("a malformed request is 400 and headers past Node's 16 KiB limit are 431, each closing the connection", async (t) => {
  const { proxy } = await redisAndProxyUnderTest(t);
  const [garbage, huge] = await openRaw(t, proxy.httpAddress, 2);
  garbage!.write('NOT-HTTP\r\n\r\n');
  huge!.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\n\r\n`);
  const [bad, tooLarge] = await Promise.all([garbage!.closed(), huge!.closed()]);
  t.regex(bad, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.regex(bad, /\r\nConnection: close\r\n/i);
  t.regex(tooLarge, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  t.regex(tooLarge, /\r\nConnection: close\r\n/i);
});

localOnly('starts a proxy with MAX_CLIENTS=3')(
  'only when every slot is answering a request is the next connection refused and counted; idle ones make room',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { MAX_CLIENTS: '3', REDIS_TIMEOUT: '10' });
    const keys = ['busy:0', 'busy:1', 'busy:2'];
    await redis.client.mset(Object.fromEntries(keys.map((k) => [k, `value-of-${k}`])));
    // INFO on the RESP port (its own MAX_CLIENTS) shows the HTTP counters while the HTTP port is full.
    const resp = new Redis({ port: proxy.respPort });
    t.teardown(() => resp.disconnect());
    const httpStat = async (field: string) => Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(await resp.info('proxy'))![1]);

    // Connected and through ioredis's ready check (INFO, which reaches Redis) before Redis is paused.
    await resp.info('proxy');
    // Redis holds every command, so the three reads stay in progress until it resumes.
    await redis.client.call('CLIENT', 'PAUSE', '3000', 'ALL');
    const busy = await openRaw(t, proxy.httpPort, 3);
    busy.forEach((client, i) => client.write(`GET /query?key=${keys[i]} HTTP/1.1\r\nHost: x\r\n\r\n`));
    while ((await httpStat('http_requests')) < 3) await new Promise((r) => setTimeout(r, 10));

    const [refused] = await openRaw(t, proxy.httpPort, 1);
    t.is(await refused!.closed(), '', 'closed at once, without a reply');
    t.is(await httpStat('rejected_connections'), 1);
    t.is(await httpStat('http_clients'), 3);

    const replies = await Promise.all(busy.map((client) => client.readUntil(completeResponse, PAST_HEADER_TIMEOUT_MS)));
    replies.forEach((reply, i) => {
      t.regex(reply, /^HTTP\/1\.1 200 OK\r\n/);
      t.true(reply.endsWith(`\r\n\r\nvalue-of-${keys[i]}`));
    });
    // The three are now idle keep-alive connections: a new one is served, and the oldest idle one closed for it.
    t.is(await metric(proxy, 'rejected_connections_total'), 1);
    const metrics = await (await proxy.http('/metrics', { signal: AbortSignal.timeout(PROMPTLY_MS) })).text();
    t.regex(metrics, /^redis_cache_proxy_rejected_clients_total\{front_end="http"\} 1$/m);
    t.regex(metrics, /^redis_cache_proxy_rejected_clients_total\{front_end="resp"\} 0$/m);
    t.is(await metric(proxy, 'http_clients'), 3);
    t.true(replies.includes(await Promise.any(busy.map((client) => client.closed(PROMPTLY_MS)))));
  },
);
