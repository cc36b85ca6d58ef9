// Glob patterns end to end: CONFIG GET with a pathological pattern no longer stalls the proxy, and the
// matcher answers as a real Redis does (KEYS over binary keys; COMMAND LIST FILTERBY PATTERN, ignoring case).
import test from 'ava';
import { Redis } from 'ioredis';
import { globMatch } from '../../src/commands/glob.ts';
import { localOnly } from '../helpers/local-only.ts';
import { proxyUnderTest } from '../helpers/proxy-process.ts';
import { startRedis } from '../helpers/redis-server.ts';

/** Resolves as `promise` does, or rejects once `ms` have passed: proof that something did not hang. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

test('CONFIG GET with a pathological pattern answers at once, and other connections are served meanwhile', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  // A proxy stuck in a match cannot run its SIGTERM handler: close() kills it then.
  const proxy = await proxyUnderTest(redis);
  t.teardown(() => proxy.close());
  await redis.client.set('bystander', 'still served');
  const admin = new Redis({ ...proxy.respAddress, protocol: 2 });
  const bystander = new Redis({ ...proxy.respAddress, protocol: 2 });
  t.teardown(() => {
    admin.disconnect();
    bystander.disconnect();
  });
  await Promise.all([admin.ping(), bystander.ping()]);

  // A backtracking RegExp took about 1 s for 11 stars, three times longer for each one more.
  const patterns = [`${'*'.repeat(30)}x`, `${'*a'.repeat(30)}*x`, `${'*?'.repeat(30)}[`];
  const pathological = admin.call('CONFIG', 'GET', ...patterns);
  const meanwhile = Promise.all([bystander.get('bystander'), bystander.ping(), bystander.get('bystander')]);
  const answers = await Promise.allSettled([within(pathological, 2000, 'CONFIG GET'), within(meanwhile, 2000, 'the other connection')]);
  // Redis's own answer to the same patterns (CONFIG GET goes to it), and none of the proxy's parameters match.
  const redisAnswer = await redis.client.call('CONFIG', 'GET', ...patterns);
  t.deepEqual(answers, [
    { status: 'fulfilled', value: redisAnswer },
    { status: 'fulfilled', value: ['still served', 'PONG', 'still served'] },
  ]);
  // Redis's parameters, and the proxy's own after them.
  const pairs = await admin.config('GET', 'MAX*');
  const found = Object.fromEntries(pairs.flatMap((v, i) => (i % 2 ? [] : [[v, pairs[i + 1]]])));
  t.is(found.maxmemory, '0');
  t.is(found.maxclients, '10000');
  t.is(found['max-parallel'], '256');
  t.is(found['max-pinned-connections'], '1000');
  t.false('cache-expiry' in found);
});

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so a failure can be replayed. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Random byte strings over `alphabet`, up to `maxLength` long. */
function strings(random: () => number, alphabet: Buffer, count: number, maxLength: number): Buffer[] {
  return Array.from({ length: count }, () =>
    Buffer.from(Array.from({ length: Math.floor(random() * (maxLength + 1)) }, () => alphabet[Math.floor(random() * alphabet.length)]!)),
  );
}

const sortedHex = (list: Buffer[]) => list.map((b) => b.toString('hex')).sort();

localOnly('compares KEYS over every key in Redis: needs a Redis holding only its own')(
  'the matcher answers as Redis does: KEYS over binary keys, and COMMAND LIST FILTERBY PATTERN ignoring case',
  async (t) => {
    const redis = await startRedis();
    t.teardown(() => redis.close());
    const random = seeded(2024);

    // Keys over bytes that patterns treat specially, letters of both cases, and bytes C sees as negative.
    const keyBytes = Buffer.from('aAbBzZ!*?[]^-\\\r\n\x00\x7f\x80\xc8\xff', 'latin1');
    const keys = [...new Map([Buffer.alloc(0), ...strings(random, keyBytes, 400, 6)].map((k) => [k.toString('hex'), k])).values()];
    await redis.client.mset(...keys.flatMap((k) => [k, 'v']));
    const patternBytes = Buffer.from('**??[[]]^!-\\aAbz\x00\x80\xc8\xff', 'latin1');
    // KEYS * alone lists every key without matching (an empty key included), so it is left out.
    const chosen = ['**', '?*', '*?*', '', '[', '[^', '[]]', '[a-]*', '[\xff-a]*', '[\x00-\xc8]', '\\*', '*\\', 'a\\'];
    const patterns = [...chosen.map((p) => Buffer.from(p, 'latin1')), ...strings(random, patternBytes, 600, 7)].filter((p) => p.toString('latin1') !== '*');
    const answers = await Promise.all(patterns.map((p) => redis.client.callBuffer('KEYS', p) as Promise<Buffer[]>));
    let matched = 0;
    for (const [i, pattern] of patterns.entries()) {
      const mine = keys.filter((k) => globMatch(pattern, k));
      matched += mine.length;
      t.deepEqual(sortedHex(mine), sortedHex(answers[i]!), `KEYS ${JSON.stringify(pattern.toString('latin1'))}`);
    }
    t.true(matched > 1000, `the patterns matched keys ${matched} times: the comparison is not all "no match"`);

    // Command names ("config|get" …) against patterns in mixed case.
    const names = (await redis.client.call('COMMAND', 'LIST')) as string[];
    const chosenNames = ['*[\\G]et*', '*[\\g]et*', '[\\C]onfig*', '[c]ONFIG|*', '*[A-Z]*', '*[Z-a]*', '*|G?T', '\\Get'];
    const namePatterns = [...chosenNames.map((p) => Buffer.from(p)), ...strings(random, Buffer.from('**??[]^-\\|cCoOnNfFgGeEtTsS'), 400, 6)];
    const filtered = await Promise.all(namePatterns.map((p) => redis.client.call('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', p) as Promise<string[]>));
    let named = 0;
    for (const [i, pattern] of namePatterns.entries()) {
      const mine = names.filter((name) => globMatch(pattern, Buffer.from(name), { nocase: true }));
      named += mine.length;
      t.deepEqual(mine.sort(), filtered[i]!.sort(), `COMMAND LIST FILTERBY PATTERN ${JSON.stringify(pattern.toString('latin1'))}`);
    }
    t.true(named > 1000, `the patterns matched names ${named} times`);
  },
);
