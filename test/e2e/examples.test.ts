// The README's examples run as written: examples/ioredis.mjs prints the value read through the proxy, and exits by itself.
import { resolve } from 'node:path';
import test from 'ava';
import { startRedisAndProxy } from '../helpers/proxy-process.ts';
import { run } from '../helpers/tools.ts';

const ROOT = resolve(import.meta.dirname, '../..');

test("examples/ioredis.mjs prints Batman's value read through the proxy, and exits 0 on its own (quit)", async (t) => {
  const { redis, proxy } = await startRedisAndProxy(t);
  await redis.client.set('Batman', 'Superhero');
  const { code, stdout, stderr } = await run('env', [`RESP_PORT=${proxy.respPort}`, process.execPath, resolve(ROOT, 'examples/ioredis.mjs')], '', 15_000);
  t.is(stderr, '');
  t.is(stdout, 'Superhero\n');
  t.is(code, 0);
});
