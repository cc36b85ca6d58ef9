// Transactions through the proxy: MULTI/EXEC/DISCARD, queued errors, WATCH against other clients' writes, as redis-cli, ioredis and node-redis use them.
import test from 'ava';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { freshKey } from '../helpers/external.ts';
import { localOnly } from '../helpers/local-only.ts';
import { redisAndProxyUnderTest, startRedisAndProxy } from '../helpers/proxy-process.ts';
import { connectRaw } from '../helpers/raw-client.ts';

const pinned = async (proxyClient: Redis) => Number(/^pinned_connections:(\d+)/m.exec(await proxyClient.info('proxy'))![1]);

localOnly('starts a proxy with CACHE_EXPIRY=3600')('MULTI/EXEC runs the queued commands atomically; DISCARD drops them; both end the session', async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t, { CACHE_EXPIRY: '3600' });
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  await redis.client.set('tx', '1');
  t.is(await client.get('tx'), '1'); // cached
  const results = await client.multi().incr('tx').get('tx').set('tx2', 'v').exec();
  t.deepEqual(results, [
    [null, 2],
    [null, '2'],
    [null, 'OK'],
  ]);
  t.is(await client.get('tx'), '2', 'the cached 1 was dropped when EXEC answered');
  t.is(await redis.client.get('tx2'), 'v');

  const raw = await connectRaw(proxy.respPort);
  t.teardown(() => raw.destroy());
  raw.write('MULTI\r\nSET tx 100\r\nDISCARD\r\nGET tx\r\nEXEC\r\nDISCARD\r\n');
  t.is(
    await raw.readUntil((r) => r.endsWith('DISCARD without MULTI\r\n')),
    '+OK\r\n+QUEUED\r\n+OK\r\n$1\r\n2\r\n-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n',
  );
  // The sessions ended cleanly; their connections are kept idle for the same clients, and no more.
  t.true((await pinned(client)) <= 2);
});

test('a queued command Redis refuses aborts EXEC (EXECABORT); one the proxy refuses does too, as Redis would', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const [a, b] = [freshKey('a'), freshKey('b')];
  const raw = await connectRaw(proxy.respAddress);
  t.teardown(() => raw.destroy());
  raw.write(`MULTI\r\nSET ${a} 1\r\nNOSUCHCOMMAND\r\nEXEC\r\nMULTI\r\nSET ${b} 1\r\nCLIENT KILL ID 1\r\nSELECT 2\r\nEXEC\r\nPING\r\n`);
  const out = await raw.readUntil((r) => r.endsWith('+PONG\r\n'));
  t.regex(
    out,
    /^\+OK\r\n\+QUEUED\r\n-ERR unknown command 'NOSUCHCOMMAND'.*\r\n-EXECABORT Transaction discarded because of previous errors\.\r\n\+OK\r\n\+QUEUED\r\n-ERR CLIENT KILL inside MULTI is not supported through redis-cache-proxy.*\r\n-ERR SELECT inside MULTI is not supported.*\r\n-EXECABORT Transaction discarded because of previous errors\.\r\n\+PONG\r\n$/,
  );
  t.is(await redis.client.exists(a, b), 0, 'neither transaction ran');
});

test('WATCH: a watched key changed by another client makes EXEC return nil; unchanged, it runs', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const client = new Redis(proxy.respAddress);
  t.teardown(() => client.disconnect());
  await client.set('balance', '10');
  await client.watch('balance');
  const seen = Number(await client.get('balance'));
  await redis.client.set('balance', '999'); // another application, straight on Redis
  t.is(
    await client
      .multi()
      .set('balance', String(seen + 1))
      .exec(),
    null,
  );
  t.is(await redis.client.get('balance'), '999', 'no lost update');

  await client.watch('balance');
  const now = Number(await client.get('balance'));
  t.is(now, 999, 'after WATCH a read goes to Redis, not the cache');
  t.deepEqual(
    await client
      .multi()
      .set('balance', String(now + 1))
      .exec(),
    [[null, 'OK']],
  );
  t.is(await client.get('balance'), '1000');
  // UNWATCH ends a watch without a transaction.
  t.is(await client.watch('balance'), 'OK');
  t.is(await client.unwatch(), 'OK');
  t.is(await client.get('balance'), '1000');
});

test('ioredis and node-redis transactions, RESP2 and RESP3', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  for (const protocol of [2, 3] as const) {
    const io = new Redis({ ...proxy.respAddress, protocol });
    try {
      const hash = freshKey(`h${protocol}`);
      const out = await io.multi().set(`io${protocol}`, 'a').append(`io${protocol}`, 'b').get(`io${protocol}`).hset(hash, 'f', 'v').hgetall(hash).exec();
      t.deepEqual(out, [
        [null, 'OK'],
        [null, 2],
        [null, 'ab'],
        [null, 1],
        [null, { f: 'v' }],
      ]);
    } finally {
      io.disconnect();
    }
    const node = createClient({ url: `redis://${proxy.respAddress.host}:${proxy.respAddress.port}`, RESP: protocol });
    node.on('error', () => {});
    await node.connect();
    try {
      const out = await node.multi().set(`nr${protocol}`, '1').incr(`nr${protocol}`).get(`nr${protocol}`).exec();
      t.deepEqual(out, ['OK', 2, '2']);
      // WATCH with node-redis: a change by another client fails the transaction.
      await node.watch(`nr${protocol}`);
      await redis.client.set(`nr${protocol}`, 'other');
      await t.throwsAsync(node.multi().set(`nr${protocol}`, 'mine').exec(), { message: 'One (or more) of the watched keys has been changed' });
      t.is(await node.get(`nr${protocol}`), 'other');
    } finally {
      await node.quit();
    }
  }
});

test('a pipeline that mixes cached reads, writes and a transaction answers every command in order', async (t) => {
  const { redis, proxy } = await redisAndProxyUnderTest(t);
  const p = freshKey('p');
  await redis.client.set(p, '0');
  const client = new Redis(proxy.respAddress);
  t.teardown(() => client.disconnect());
  t.is(await client.get(p), '0');
  const raw = await connectRaw(proxy.respAddress);
  t.teardown(() => raw.destroy());
  raw.write(`GET ${p}\r\nINCR ${p}\r\nGET ${p}\r\nMULTI\r\nINCR ${p}\r\nGET ${p}\r\nEXEC\r\nGET ${p}\r\nSET ${p} 10\r\nGET ${p}\r\n`);
  t.is(
    await raw.readUntil((r) => r.endsWith('$2\r\n10\r\n')),
    '$1\r\n0\r\n:1\r\n$1\r\n1\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:2\r\n$1\r\n2\r\n$1\r\n2\r\n+OK\r\n$2\r\n10\r\n',
  );
});
