// Big pipelines through the RESP port, as fault injection sent them: 100 000 GETs in one write, an MGET of
// 100 000 keys, redis-cli --pipe; every reply checked, since a header cut between two reads once broke them.
import net from 'node:net';
import test from 'ava';
import RedisParser from 'redis-parser';
import { freshKey } from '../helpers/external.ts';
import { proxyUnderTest, type TestProxy } from '../helpers/proxy-process.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { requireTool, run } from '../helpers/tools.ts';

let redis: TestRedis;
let proxy: TestProxy;

test.before(async () => {
  requireTool('redis-cli');
  redis = await startRedis();
  proxy = await proxyUnderTest(redis);
});
test.after.always(async () => {
  await proxy?.close();
  await redis?.close();
});

/** A command as a client library writes it. */
const frame = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Sets `count` keys `${prefix}${i}` to distinct values in Redis itself; returns the value of key i. */
async function seed(prefix: string, count: number): Promise<(i: number) => string> {
  const value = (i: number) => `value-${i}-${'v'.repeat(i % 50)}`;
  for (let start = 0; start < count; start += 10_000) {
    const pairs: string[] = [];
    for (let i = start; i < Math.min(count, start + 10_000); i++) pairs.push(`${prefix}${i}`, value(i));
    await redis.client.mset(...pairs);
  }
  return value;
}

/**
 * Writes `bytes` in one go on a new connection and resolves with the first `count` replies (RESP2,
 * as strings; error replies as Errors). Rejects, with how many replies came, if the proxy closes first.
 */
function pipelineReplies(bytes: Buffer, count: number, timeoutMs = 20_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const replies: unknown[] = [];
    const socket = net.connect(proxy.respAddress);
    const fail = (why: string) => {
      clearTimeout(timer);
      socket.destroy();
      const last = replies.at(-1);
      reject(new Error(`${why} after ${replies.length} of ${count} replies; the last: ${last instanceof Error ? last.message : JSON.stringify(last)}`));
    };
    const timer = setTimeout(() => fail('timed out'), timeoutMs);
    const parser = new RedisParser({
      returnReply: (reply: unknown) => {
        replies.push(reply);
        if (replies.length === count) {
          clearTimeout(timer);
          socket.destroy();
          resolve(replies);
        }
      },
      returnError: (err: Error) => replies.push(err),
      returnFatalError: (err: Error) => fail(`unparseable reply (${err.message})`),
    });
    socket.on('data', (d) => parser.execute(d));
    socket.on('close', () => fail('the proxy closed the connection'));
    socket.on('error', () => {});
    socket.once('connect', () => socket.write(bytes));
  });
}

/** The index of the first reply that is not what was expected, with both, or null. */
function firstMismatch(replies: readonly unknown[], expected: (i: number) => unknown): string | null {
  for (let i = 0; i < replies.length; i++) {
    const got = replies[i] instanceof Error ? `error ${(replies[i] as Error).message}` : replies[i];
    if (got !== expected(i)) return `reply ${i}: got ${JSON.stringify(got)}, expected ${JSON.stringify(expected(i))}`;
  }
  return null;
}

test.serial("100 000 GETs written in one go are all answered, in order, each with its key's value", async (t) => {
  const prefix = `${freshKey('burst')}:`;
  const value = await seed(prefix, 1000);
  const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => frame('GET', `${prefix}${i % 1000}`)).join(''));
  const reads = await redis.readsDuring(async () => {
    const replies = await pipelineReplies(bytes, 100_000);
    t.is(replies.length, 100_000);
    t.is(
      firstMismatch(replies, (i) => value(i % 1000)),
      null,
    );
  });
  t.is(reads, 1000, 'each of the 1000 keys was read from Redis once, the rest came from the cache');
});

test.serial('an MGET of 100 000 keys returns every value, and nil for the absent ones', async (t) => {
  const value = await seed('mget:', 100_000);
  // Every tenth key was never set: its place in the reply must hold nil, not a neighbour's value.
  const key = (i: number) => (i % 10 === 9 ? `mget-absent:${i}` : `mget:${i}`);
  const bytes = Buffer.from(frame('MGET', ...Array.from({ length: 100_000 }, (_, i) => key(i))));
  const [reply] = await pipelineReplies(bytes, 1);
  if (!Array.isArray(reply)) return t.fail(`MGET answered ${String(reply)}`);
  t.is(reply.length, 100_000);
  t.is(
    firstMismatch(reply, (i) => (i % 10 === 9 ? null : value(i))),
    null,
  );
});

test.serial('redis-cli --pipe sends 200 000 commands through the proxy without an error', async (t) => {
  await seed('cli-pipe:', 1000);
  const input = Array.from({ length: 200_000 }, (_, i) => frame('GET', `cli-pipe:${i % 1000}`)).join('');
  const { code, stdout, stderr } = await run('redis-cli', ['-h', proxy.respAddress.host, '-p', String(proxy.respAddress.port), '--pipe'], input, 30_000);
  t.is(code, 0, stderr);
  t.regex(stdout, /^errors: 0, replies: 200000$/m, stdout);
});
