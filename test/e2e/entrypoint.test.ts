// The entrypoint as a user runs it: settings from .config, environment and flags; bad values; --help; signals.
import test from 'ava';
import { Redis } from 'ioredis';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, runProxyCommand, startProxy } from '../helpers/proxy-process.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

/** Against an external proxy these are skipped: each runs the entrypoint itself. */
const entrypointTest = localOnly('runs the entrypoint itself');

let redis: TestRedis;
test.before(async () => {
  redis = await startRedis();
});
test.after.always(async () => {
  await redis?.close();
});

entrypointTest.serial('a bad .config value exits with code 2 and one line naming the key, the value and the rule', async (t) => {
  const { code, stderr } = await runProxyCommand({ configFile: 'CACHE_CAPACITY=ten\n' });
  t.is(code, 2);
  const lines = stderr.trim().split('\n');
  t.is(lines.length, 1);
  t.regex(lines[0]!, /^redis-cache-proxy: CACHE_CAPACITY must be a positive integer up to 10000000 \(.*\), got "ten" \(from .*\.config:1\)$/);
});

entrypointTest.serial('a .config line that is not KEY=value exits with code 2 and one line naming the file and line', async (t) => {
  // node:util's parseEnv skipped such lines, so a typo silently left the setting at its default.
  const { code, stderr } = await runProxyCommand({ configFile: `REDIS_PORT=${redis.port}\n# expiry\nCACHE_EXPIRY 5\n` });
  t.is(code, 2);
  const lines = stderr.trim().split('\n');
  t.is(lines.length, 1, stderr);
  t.regex(lines[0]!, /^redis-cache-proxy: \/.*\/\.config:3: expected KEY=value, got "CACHE_EXPIRY 5"$/);
});

entrypointTest.serial('a malformed percent-escape in REDIS_URL exits with code 2 and one line', async (t) => {
  // It threw a URIError out of the settings, which was logged, and the process exited 0.
  const { code, stderr } = await runProxyCommand({ env: { REDIS_URL: 'redis://u:%zz@127.0.0.1:1' } });
  t.is(code, 2);
  const lines = stderr.trim().split('\n');
  t.is(lines.length, 1, stderr);
  t.is(
    lines[0],
    'redis-cache-proxy: REDIS_URL must be a URL whose user and password use valid percent-escapes (% and two hex digits, e.g. %40 for @), got "redis://u:***@127.0.0.1:1" (from environment)',
  );
});

entrypointTest.serial('a fractional-millisecond CACHE_EXPIRY starts and serves (rounded to whole milliseconds)', async (t) => {
  // lru-cache takes only an integer ttl: CACHE_EXPIRY=0.0015 crashed the start with exit code 1.
  const proxy = await startProxy({ env: { ...backendEnv(redis), CACHE_EXPIRY: '0.0015' } });
  const client = new Redis({ port: proxy.respPort });
  try {
    await redis.client.set('fractional-expiry', 'v1');
    t.is(await client.get('fractional-expiry'), 'v1');
    t.regex(await client.info('cache'), /^cache_expiry_seconds:0\.002\r$/m);
  } finally {
    client.disconnect();
    await proxy.stop();
  }
});

entrypointTest.serial('a bad environment value or flag, and an unknown flag, exit with code 2', async (t) => {
  const env = await runProxyCommand({ env: { CACHE_EXPIRY: 'soon' } });
  t.is(env.code, 2);
  t.regex(env.stderr, /CACHE_EXPIRY must be a number of seconds from 0\.001 to 2147483\.647, rounded to whole milliseconds, got "soon" \(from environment\)/);
  const flag = await runProxyCommand({ args: ['--max-clients', '0'] });
  t.is(flag.code, 2);
  t.regex(flag.stderr, /MAX_CLIENTS must be a positive integer, got "0" \(from --max-clients\)/);
  const unknown = await runProxyCommand({ args: ['--verbose'] });
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown option "--verbose"; run with --help/);
});

entrypointTest.serial('--help lists the flags with defaults and exits 0', async (t) => {
  const { code, stdout } = await runProxyCommand({ args: ['--help'] });
  t.is(code, 0);
  t.regex(stdout, /--cache-expiry <seconds> +CACHE_EXPIRY: .*\(default 60\)/);
  t.regex(stdout, /--resp-port <port> +RESP_PORT: .*\(default 6380\)/);
});

entrypointTest.serial('flags override environment, which overrides .config', async (t) => {
  const proxy = await startProxy({
    configFile: `REDIS_PORT=${redis.port}\nCACHE_CAPACITY=11\nMAX_PARALLEL=12\nCACHE_EXPIRY=13\nCACHE_MAX_MEMORY=14mb\n`,
    env: { CACHE_CAPACITY: '21', MAX_PARALLEL: '22', CACHE_MAX_VALUE_SIZE: '24kb' },
    args: ['--max-parallel', '32', '--cache-max-value-size=34kb'],
  });
  const client = new Redis({ port: proxy.respPort });
  try {
    const values = (await client.call('CONFIG', 'GET', 'cache-*', 'max-parallel')) as string[];
    const got = Object.fromEntries(values.flatMap((v, i) => (i % 2 ? [] : [[v, values[i + 1]]])));
    t.deepEqual(got, {
      'cache-expiry': '13',
      'cache-capacity': '21',
      'cache-max-memory': String(14 * 1024 * 1024),
      'cache-max-value-size': String(34 * 1024),
      'max-parallel': '32',
    });
    t.regex(proxy.output(), new RegExp(`listening http=127\\.0\\.0\\.1:\\d+ resp=127\\.0\\.0\\.1:\\d+ backend=redis://127\\.0\\.0\\.1:${redis.port}/0`));
  } finally {
    client.disconnect();
    await proxy.stop();
  }
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  entrypointTest.serial(`${signal} closes the listeners and the backend connection and exits 0`, async (t) => {
    const proxy = await startProxy({ env: backendEnv(redis) });
    const client = new Redis({ port: proxy.respPort, retryStrategy: () => null });
    client.on('error', () => {});
    await client.ping();
    const code = await proxy.stop(signal);
    t.is(code, 0);
    t.regex(proxy.output(), new RegExp(`${signal} received: no new connections`));
    await t.throwsAsync(fetch(`http://127.0.0.1:${proxy.httpPort}/`));
    // Redis notices the closed socket on its next turn; give it a moment.
    let clients = '';
    for (let i = 0; i < 50; i++) {
      clients = (await redis.client.client('LIST')) as string;
      if (!clients.includes('name=redis-cache-proxy')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    t.false(clients.includes('name=redis-cache-proxy'), 'the backend connection is closed');
    client.disconnect();
  });
}

entrypointTest.serial('a port already in use is a clear error', async (t) => {
  const first = await startProxy({ env: backendEnv(redis) });
  try {
    const { code, stderr } = await runProxyCommand({ env: { ...backendEnv(redis), RESP_PORT: String(first.respPort) } });
    t.is(code, 1);
    t.regex(stderr, /cannot start: .*EADDRINUSE.*change PROXY_PORT or RESP_PORT/);
  } finally {
    await first.stop();
  }
});

test.serial('with nobody reading its log any more (the pipe on stderr closed), the proxy keeps serving and stops on SIGTERM', async (t) => {
  // Each log line then failed with EPIPE, an uncaught error that was logged to the same stderr: the proxy spun
  // at 100% CPU for ever and never handled SIGTERM (orphans of killed test runs did this).
  const proxy = await startProxy({ env: backendEnv(redis) });
  t.teardown(() => proxy.stop('SIGKILL'));
  proxy.child.stdout!.destroy();
  proxy.child.stderr!.destroy();
  await redis.client.set('log-gone', 'still served');
  const client = new Redis({ port: proxy.respPort });
  t.teardown(() => client.disconnect());
  t.is(await client.get('log-gone'), 'still served');
  client.disconnect();
  const exit = proxy.stop('SIGTERM');
  const hung = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref());
  t.is(await Promise.race([exit, hung]), 0);
});
