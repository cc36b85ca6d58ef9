// A script that keeps Redis busy: SCRIPT KILL reaches Redis through the proxy, and afterwards every read and write happens in the client's own database.
import { Redis } from 'ioredis';
import { localOnly } from '../helpers/local-only.ts';
import { startRedisAndProxy } from '../helpers/proxy-process.ts';
import type { TestRedis } from '../helpers/redis-server.ts';

const BUSY = /^(ReplyError: )?BUSY Redis is busy running a script/;

/** Starts an endless script on a connection of its own to `port`; resolves once Redis answers others BUSY. */
async function busyScript(redis: TestRedis, port: number): Promise<{ finished: Promise<unknown>; close(): void }> {
  // Redis answers BUSY once a script has run this long (lua-time-limit, busy-reply-threshold since 7.0).
  await redis.client.config('SET', 'lua-time-limit', '10');
  const runner = new Redis({ port, maxRetriesPerRequest: 0, commandTimeout: 20_000 });
  runner.on('error', () => {});
  const finished = runner.eval('while true do end', 0).catch((err: Error) => err);
  const probe = new Redis({ port: redis.port, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    for (let i = 0; i < 200; i++) {
      const reply = await probe.ping().catch((err: Error) => err);
      if (reply instanceof Error && BUSY.test(reply.message)) return { finished, close: () => runner.disconnect() };
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('Redis never became busy');
  } finally {
    probe.disconnect();
  }
}

localOnly('runs a script that blocks its own Redis').serial(
  'a SELECT Redis refuses while busy does not leave a backend connection in the wrong database: reads and writes after it land in the right one',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '10' });
    await redis.client.set('k0', 'zero');
    await redis.client.select(9);
    await redis.client.set('k9', 'nine');
    await redis.client.select(0);

    // The cache's connection and the shared one are left in database 9 by a client of db 9.
    const inNine = new Redis({ port: proxy.respPort, db: 9, maxRetriesPerRequest: 0 });
    const inZero = new Redis({ port: proxy.respPort, maxRetriesPerRequest: 0 });
    t.teardown(() => {
      inNine.disconnect();
      inZero.disconnect();
    });
    t.is(await inNine.get('k9'), 'nine');
    t.is(await inNine.set('w9', 'written in 9'), 'OK');

    // The script runs on Redis directly: the proxy's connections are not the ones running it.
    const script = await busyScript(redis, redis.port);
    t.teardown(() => script.close());
    // Database 0 needs a SELECT on both connections, and Redis refuses it while busy.
    const read = await inZero.get('k0').catch((err: Error) => err);
    t.regex(String(read), BUSY, 'the read gets Redis own refusal');
    const write = await inZero.set('w0', 'lost').catch((err: Error) => err);
    t.regex(String(write), BUSY, 'so does the write');

    await redis.client.script('KILL').catch(() => {});
    t.regex(String(await script.finished), /Script killed by user/);

    // Before the fix both connections still sat in database 9, believed to be in 0.
    t.is(await inZero.get('k0'), 'zero');
    t.is(await inZero.set('w0', 'written in 0'), 'OK');
    t.is(await redis.client.get('w0'), 'written in 0');
    await redis.client.select(9);
    t.is(await redis.client.exists('w0'), 0, 'nothing written in database 9 by the client of database 0');
    await redis.client.select(0);
    t.is(await inNine.get('k9'), 'nine');
  },
);

localOnly('runs a script that blocks its own Redis').serial(
  'SCRIPT KILL from another client reaches Redis while a script started through the proxy holds the shared connection',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '8' });
    const script = await busyScript(redis, proxy.respPort);
    t.teardown(() => script.close());
    const killer = new Redis({ port: proxy.respPort, maxRetriesPerRequest: 0 });
    t.teardown(() => killer.disconnect());
    // Before the fix SCRIPT KILL queued behind the script on the same shared connection and timed out with it.
    t.is(await killer.script('KILL'), 'OK');
    t.regex(String(await script.finished), /Script killed by user/);
    t.regex(String(await killer.script('KILL').catch((err: Error) => err)), /NOTBUSY No scripts in execution right now/);
    t.is(await killer.set('after', 'yes'), 'OK');
    t.is(await killer.get('after'), 'yes');
    t.is(await redis.client.get('after'), 'yes');
    t.is(await killer.function('KILL').catch((err: Error) => err.message), 'NOTBUSY No scripts in execution right now.');
  },
);

localOnly('runs a function that blocks its own Redis').serial(
  'FUNCTION STATS and FUNCTION KILL reach Redis while a function started through the proxy runs; FUNCTION STATS is in the client protocol',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t, { REDIS_TIMEOUT: '8' });
    await redis.client.config('SET', 'busy-reply-threshold', '10');
    await redis.client.function('LOAD', "#!lua name=spin\nredis.register_function('spin', function() local a = 1 while true do a = a + 1 end end)");
    const runner = new Redis({ port: proxy.respPort, maxRetriesPerRequest: 0, commandTimeout: 20_000 });
    const observer = new Redis({ port: proxy.respPort, maxRetriesPerRequest: 0 });
    t.teardown(() => {
      runner.disconnect();
      observer.disconnect();
    });
    const finished = runner.fcall('spin', 0).catch((err: Error) => err);
    const probe = new Redis({ port: redis.port, maxRetriesPerRequest: 0 });
    t.teardown(() => probe.disconnect());
    for (let busy = false; !busy; await new Promise((r) => setTimeout(r, 20))) {
      busy = String(await probe.ping().catch((err: Error) => err)).includes('BUSY');
    }
    // RESP2: a flat array, as Redis answers a RESP2 client (the cache's connection speaks RESP3).
    const stats = (await observer.function('STATS')) as unknown[];
    t.is(stats[0], 'running_script');
    t.deepEqual((stats[1] as unknown[]).slice(0, 4), ['name', 'spin', 'command', ['fcall', 'spin', '0']]);
    t.is(await observer.function('KILL'), 'OK');
    t.regex(String(await finished), /Script killed by user/);
    t.deepEqual(((await observer.function('STATS')) as unknown[]).slice(0, 2), ['running_script', null]);
  },
);
