// Client authentication, protected mode and secrets: every client logs in with PROXY_PASSWORD as it would to Redis, nothing reaches Redis before it, and no password shows anywhere.
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Redis, type RedisOptions } from 'ioredis';
import { createClient } from 'redis';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, runProxyCommand, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { connectRaw } from '../helpers/raw-client.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { holdsWithin } from '../helpers/eventually.ts';
import { requireTool, run } from '../helpers/tools.ts';

// Every test here starts a proxy with settings of its own (a password, protected mode, timeouts).
const local = localOnly('starts a proxy with a password or protected-mode settings of its own');

const PASSWORD = 'pr0xy-p@ss wörd';
const NOAUTH = '-NOAUTH Authentication required.\r\n';
const WRONGPASS = '-WRONGPASS invalid username-password pair or user is disabled.\r\n';

let redis: TestRedis;
let proxy: ProxyProcess;

test.before(async () => {
  requireTool('redis-cli');
  redis = await startRedis();
  proxy = await startProxy({ env: { ...backendEnv(redis), PROXY_PASSWORD: PASSWORD } });
});
test.after.always(async () => {
  await proxy?.close();
  await redis?.close();
});

/** A RESP multibulk frame of `args`. */
const frame = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Every cmdstat_ line of Redis's INFO commandstats but INFO's own (the test's direct client runs it). */
async function commandStats(of: TestRedis = redis): Promise<string[]> {
  return (await of.client.info('commandstats'))
    .split('\r\n')
    .filter((line) => line.startsWith('cmdstat_') && !line.startsWith('cmdstat_info:'))
    .map((line) => line.replace(/,usec=.*$/, ''));
}

/** Connections Redis has accepted since it started: a pinned session would open one. */
async function redisConnections(of: TestRedis = redis): Promise<number> {
  return Number(/^total_connections_received:(\d+)/m.exec(await of.client.info('stats'))![1]);
}

/** Sends `bytes` on a new raw connection and resolves with everything received once the proxy closes it (after QUIT or an error). */
async function session(port: number, bytes: string, timeoutMs = 5000): Promise<string> {
  const client = await connectRaw(port);
  client.write(bytes);
  return client.closed(timeoutMs);
}

function ioredis(t: ExecutionContext, options: RedisOptions): Redis {
  const client = new Redis({ host: '127.0.0.1', port: proxy.respPort, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...options });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  return client;
}

local.serial(
  'before AUTH the proxy answers as Redis with requirepass does, byte for byte, and nothing reaches Redis or opens a connection to it',
  async (t) => {
    const reference = await startRedis({ password: PASSWORD });
    t.teardown(() => reference.close());
    await redis.client.set('seen', 'value');
    await reference.client.set('seen', 'value');
    // What a client may try before logging in, then logging in, then RESET and the same again.
    const before = [
      frame('GET', 'seen'),
      frame('SET', 'seen', 'other'),
      frame('MGET', 'seen', 'x'),
      frame('PING'),
      frame('ECHO', 'hi'),
      frame('SELECT', '1'),
      frame('INFO'),
      frame('CONFIG', 'GET', 'requirepass'),
      frame('CLIENT', 'LIST'),
      frame('CLIENT', 'SETNAME', 'n'),
      frame('COMMAND', 'DOCS', 'GET'),
      frame('MULTI'),
      frame('EXEC'),
      frame('WATCH', 'seen'),
      frame('SUBSCRIBE', 'channel'),
      frame('BLPOP', 'list', '0'),
      frame('MONITOR'),
      frame('EVAL', 'return 1', '0'),
      frame('NOSUCHCOMMAND', 'a', 'b'),
      frame('GET'),
      frame('EXEC', 'extra'),
      frame('HELLO'),
      frame('HELLO', '3'),
      frame('HELLO', '2', 'SETNAME', 'n'),
      frame('HELLO', '3', 'AUTH', 'default', 'wrong'),
      frame('HELLO', '3', 'AUTH', 'nobody', PASSWORD),
      frame('HELLO', '4'),
      frame('HELLO', '3', 'AUTH', 'default'),
      frame('AUTH', 'wrong'),
      frame('AUTH', 'default', 'wrong'),
      frame('AUTH', 'nobody', PASSWORD),
      frame('AUTH', 'a', 'b', 'c'),
      frame('AUTH'),
      'GET seen\r\n',
    ].join('');
    const after = [frame('AUTH', PASSWORD), frame('GET', 'seen'), frame('AUTH', 'default', PASSWORD), frame('RESET'), frame('GET', 'seen'), frame('PING')].join(
      '',
    );
    const stats = await commandStats();
    const connections = await redisConnections();
    const fromProxy = await session(proxy.respPort, before + after + frame('QUIT'));
    const fromRedis = await session(reference.port, before + after + frame('QUIT'));
    t.is(fromProxy, fromRedis);
    // Spot checks of what both said, so the comparison cannot pass on two empty answers.
    t.true(
      fromProxy.startsWith(
        `${NOAUTH.repeat(12)}-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n${NOAUTH.repeat(5)}` +
          "-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'a' 'b' \r\n-ERR wrong number of arguments for 'get' command\r\n" +
          "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n",
      ),
      fromProxy,
    );
    t.true(
      fromProxy.includes(
        '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n',
      ),
    );
    t.true(fromProxy.includes(`${WRONGPASS}${WRONGPASS}-NOPROTO unsupported protocol version\r\n`));
    t.true(fromProxy.endsWith(`${NOAUTH}+OK\r\n$5\r\nvalue\r\n+OK\r\n+RESET\r\n${NOAUTH}${NOAUTH}+OK\r\n`), fromProxy);
    // Redis ran nothing but the proxy's fill of the key read after AUTH (its GET, and the PTTL a fill may
    // send behind it), and opened no connection for a session.
    const ran = (await commandStats()).filter((line) => !stats.includes(line)).map((line) => line.replace(/:.*/, ''));
    t.true(ran.includes('cmdstat_get'), ran.join(' '));
    t.deepEqual(
      ran.filter((name) => name !== 'cmdstat_get' && name !== 'cmdstat_pttl'),
      [],
    );
    t.is(await redisConnections(), connections);
  },
);

local.serial('an unauthenticated client cannot send big requests: Redis’s limits of 10 arguments and 16 KiB each, then the connection is closed', async (t) => {
  const reference = await startRedis({ password: PASSWORD });
  t.teardown(() => reference.close());
  const tooMany = `*11\r\n${'$1\r\na\r\n'.repeat(11)}`;
  const tooLong = `*2\r\n$3\r\nSET\r\n$16385\r\n${'x'.repeat(16385)}\r\n`;
  for (const [bytes, error] of [
    [tooMany, '-ERR Protocol error: unauthenticated multibulk length\r\n'],
    [tooLong, '-ERR Protocol error: unauthenticated bulk length\r\n'],
    [frame('GET', 'k'.repeat(16385)), '-ERR Protocol error: unauthenticated bulk length\r\n'],
  ] as const) {
    t.is(await session(proxy.respPort, bytes), error);
    t.is(await session(reference.port, bytes), error);
  }
  // Once authenticated, requests as big are served.
  const client = await connectRaw(proxy.respPort);
  t.teardown(() => client.destroy());
  client.write(
    frame('AUTH', PASSWORD) + frame('MSET', 'a', '1', 'b', '2', 'c', '3', 'd', '4', 'e', '5') + frame('SET', 'big', 'x'.repeat(16385)) + frame('STRLEN', 'big'),
  );
  t.is(await client.readUntil((r) => r.endsWith(':16385\r\n')), '+OK\r\n+OK\r\n+OK\r\n:16385\r\n');
});

local('redis-cli logs in with -a, --pass, --user default --pass and AUTH; without, or with a wrong password, it is refused', async (t) => {
  const port = String(proxy.respPort);
  await redis.client.set('cli-key', 'cli-value');
  const cli = (...args: string[]) => run('redis-cli', ['-p', port, '--no-auth-warning', ...args]);
  t.is((await cli('-a', PASSWORD, 'GET', 'cli-key')).stdout, 'cli-value\n');
  t.is((await cli('--pass', PASSWORD, 'GET', 'cli-key')).stdout, 'cli-value\n');
  t.is((await cli('--user', 'default', '--pass', PASSWORD, 'GET', 'cli-key')).stdout, 'cli-value\n');
  // RESP3 (redis-cli -3 sends HELLO 3 AUTH default <password>).
  t.is((await cli('-3', '-a', PASSWORD, 'GET', 'cli-key')).stdout, 'cli-value\n');
  // redis-cli prints an error and a blank line, as it does against Redis.
  t.is((await cli('GET', 'cli-key')).stdout, 'NOAUTH Authentication required.\n\n');
  const wrong = await cli('-a', 'wrong', 'GET', 'cli-key');
  t.regex(wrong.stderr + wrong.stdout, /WRONGPASS invalid username-password pair or user is disabled\./);
  t.false((wrong.stdout + wrong.stderr).includes('cli-value'));
  // Interactive-style: AUTH as a command, then the read.
  t.is((await run('redis-cli', ['-p', port], `AUTH "${PASSWORD}"\nGET cli-key\n`)).stdout, 'OK\ncli-value\n');
});

local('ioredis logs in with password, and with username default; a wrong password or another user fails with WRONGPASS', async (t) => {
  await redis.client.set('io-key', 'io-value');
  for (const options of [{ password: PASSWORD }, { username: 'default', password: PASSWORD }]) {
    const client = ioredis(t, options);
    await client.connect();
    t.is(await client.get('io-key'), 'io-value');
    t.is(await client.call('CLIENT', 'GETNAME'), null);
  }
  for (const options of [{ password: 'wrong' }, { username: 'admin', password: PASSWORD }]) {
    const client = ioredis(t, options);
    // ioredis reports the login's error as an 'error' event, and then that the connection closed.
    const errors: Error[] = [];
    client.on('error', (err: Error) => errors.push(err));
    await t.throwsAsync(client.connect());
    t.regex(errors.map((e) => e.message).join('\n'), /WRONGPASS invalid username-password pair or user is disabled\./);
  }
  // Without a password ioredis's HELLO 3 is refused, as Redis refuses it, and ioredis gives up the connection.
  const none = ioredis(t, {});
  const errors: Error[] = [];
  none.on('error', (err: Error) => errors.push(err));
  await t.throwsAsync(none.connect());
  t.regex(errors[0]?.message ?? '', /^NOAUTH HELLO must be called with the client already authenticated/);
});

local('node-redis logs in from redis://:pass@ and redis://default:pass@ URLs, in RESP2 and RESP3; a wrong password is WRONGPASS', async (t) => {
  await redis.client.set('node-key', 'node-value');
  const encoded = encodeURIComponent(PASSWORD);
  for (const url of [`redis://:${encoded}@127.0.0.1:${proxy.respPort}`, `redis://default:${encoded}@127.0.0.1:${proxy.respPort}`]) {
    for (const RESP of [2, 3] as const) {
      const client = createClient({ url, RESP });
      client.on('error', () => {});
      await client.connect();
      t.teardown(() => client.destroy());
      t.is(await client.get('node-key'), 'node-value', `${url} RESP${RESP}`);
    }
  }
  const wrong = createClient({ url: `redis://default:wrong@127.0.0.1:${proxy.respPort}`, socket: { reconnectStrategy: false } });
  wrong.on('error', () => {});
  await t.throwsAsync(wrong.connect(), { message: /WRONGPASS/ });
});

local("redis-py logs in with password=, and with username='default'; a wrong one raises AuthenticationError", async (t) => {
  await redis.client.set('py-key', 'py-value');
  const script = `
import json, sys, redis
port, password = int(sys.argv[1]), sys.argv[2]
out = {}
out['password'] = redis.Redis(port=port, password=password).get('py-key').decode()
out['username'] = redis.Redis(port=port, username='default', password=password).get('py-key').decode()
for name, kwargs in [('wrong', {'password': 'wrong'}), ('none', {})]:
    try:
        redis.Redis(port=port, **kwargs).get('py-key')
        out[name] = 'served'
    except redis.exceptions.RedisError as e:
        out[name] = [type(e).__name__, str(e)]
print(json.dumps(out))
`;
  const { code, stdout, stderr } = await run('/usr/bin/python3', ['-c', script, String(proxy.respPort), PASSWORD]);
  t.is(code, 0, stderr);
  t.deepEqual(JSON.parse(stdout), {
    password: 'py-value',
    username: 'py-value',
    // What redis-py 4.3 raises against Redis itself: it maps NOAUTH, not WRONGPASS, to AuthenticationError.
    wrong: ['ResponseError', 'WRONGPASS invalid username-password pair or user is disabled.'],
    none: ['AuthenticationError', 'Authentication required.'],
  });
});

local('HELLO AUTH logs in and picks RESP2 or RESP3 at once, with SETNAME too; RESET logs out, inside a transaction as well', async (t) => {
  const client = await connectRaw(proxy.respPort);
  t.teardown(() => client.destroy());
  client.write(frame('HELLO', '2', 'AUTH', 'default', PASSWORD));
  const resp2 = await client.readUntil((r) => r.endsWith('$5\r\nproxy\r\n$23\r\nredis-cache-proxy 0.1.0\r\n') || r.includes('modules'));
  t.true(resp2.startsWith('*16\r\n$6\r\nserver\r\n$5\r\nredis\r\n'), resp2);
  t.regex(resp2, /\$5\r\nproto\r\n:2\r\n/);
  const reset = await connectRaw(proxy.respPort);
  t.teardown(() => reset.destroy());
  reset.write(frame('HELLO', '3', 'AUTH', 'default', PASSWORD, 'SETNAME', 'hello-auth') + frame('CLIENT', 'GETNAME'));
  const resp3 = await reset.readUntil((r) => r.endsWith('$10\r\nhello-auth\r\n'));
  t.true(resp3.startsWith('%8\r\n$6\r\nserver\r\n$5\r\nredis\r\n'), resp3);
  t.regex(resp3, /\$5\r\nproto\r\n:3\r\n/);
  // RESET in a transaction ends it and logs out: what follows is refused, and the transaction never ran.
  const before = await commandStats();
  reset.write(frame('MULTI') + frame('SET', 'never', 'set'));
  await reset.readUntil((r) => r.endsWith('+OK\r\n+QUEUED\r\n'));
  reset.write(frame('RESET') + frame('EXEC') + frame('GET', 'never'));
  const execAbort = '-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n';
  const rest = await reset.readUntil((r) => r.endsWith(execAbort + NOAUTH), 5000);
  t.true(rest.endsWith(`+OK\r\n+QUEUED\r\n+RESET\r\n${execAbort}${NOAUTH}`), rest);
  t.is(await redis.client.exists('never'), 0);
  t.false((await commandStats()).some((line) => line.startsWith('cmdstat_exec:') && !before.includes(line)));
});

local(
  'HTTP: /query and / need Bearer or Basic credentials, 401 with both challenges otherwise; the health checks stay open; /metrics needs them too',
  async (t) => {
    await redis.client.set('http-key', 'http-value');
    const get = (path: string, authorization?: string) => proxy.http(path, authorization === undefined ? {} : { headers: { authorization } });
    const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;
    for (const [path, authorization] of [
      ['/query?key=http-key', undefined],
      ['/query?key=http-key', 'Bearer wrong'],
      ['/query?key=http-key', basic(`admin:${PASSWORD}`)],
      ['/query?key=http-key', basic('default:wrong')],
      ['/', undefined],
      ['/nosuch', undefined],
      ['/metrics', undefined],
    ] as const) {
      const res = await get(path, authorization);
      t.is(res.status, 401, `${path} ${authorization}`);
      t.is(res.headers.get('www-authenticate'), 'Bearer realm="redis-cache-proxy", Basic realm="redis-cache-proxy"');
      t.is(await res.text(), 'authentication required: send Authorization: Bearer <password>, or Basic with the user default (or none) and the password\n');
    }
    for (const authorization of [`Bearer ${PASSWORD}`, basic(`default:${PASSWORD}`), basic(`:${PASSWORD}`)]) {
      const res = await get('/query?key=http-key', authorization);
      t.is(res.status, 200, authorization);
      t.is(await res.text(), 'http-value');
    }
    t.is((await get('/metrics', `Bearer ${PASSWORD}`)).status, 200);
    for (const path of ['/healthz', '/readyz', '/health']) t.is((await get(path)).status, 200, path);
  },
);

local('METRICS_AUTH=no leaves /metrics open while /query still asks for the password', async (t) => {
  const open = await startProxy({ env: { ...backendEnv(redis), PROXY_PASSWORD: PASSWORD, METRICS_AUTH: 'no' } });
  t.teardown(() => open.close());
  const metrics = await open.http('/metrics');
  t.is(metrics.status, 200);
  t.regex(await metrics.text(), /^redis_cache_proxy_auth_failures_total 0$/m);
  t.is((await open.http('/query?key=x')).status, 401);
});

local('AUTH_TIMEOUT closes a connection that does not authenticate in time, and one that logs out with RESET; a logged-in one stays', async (t) => {
  const quick = await startProxy({ env: { ...backendEnv(redis), PROXY_PASSWORD: PASSWORD, AUTH_TIMEOUT: '0.2' } });
  t.teardown(() => quick.close());
  const idle = await connectRaw(quick.respPort);
  t.is(await idle.closed(5000), '');
  const loggedIn = await connectRaw(quick.respPort);
  t.teardown(() => loggedIn.destroy());
  loggedIn.write(frame('AUTH', PASSWORD));
  t.is(await loggedIn.readUntil((r) => r === '+OK\r\n'), '+OK\r\n');
  // Past the deadline the logged-in connection is still served.
  await new Promise((r) => setTimeout(r, 600));
  loggedIn.write(frame('PING'));
  t.is(await loggedIn.readUntil((r) => r.endsWith('+PONG\r\n')), '+OK\r\n+PONG\r\n');
  loggedIn.write(frame('RESET'));
  t.is(await loggedIn.closed(5000), '+OK\r\n+PONG\r\n+RESET\r\n');
  t.true(await holdsWithin(async () => /^auth_timeouts:2$/m.test(await infoProxy(quick))));
});

/** INFO proxy through an authenticated connection of `of`. */
async function infoProxy(of: ProxyProcess): Promise<string> {
  const result = await run('redis-cli', ['-p', String(of.respPort), '--no-auth-warning', '-a', PASSWORD, 'INFO', 'proxy']);
  return result.stdout.replaceAll('\r', '');
}

// Serial: it counts the AUTHs Redis runs, and the other tests' clients must not add theirs meanwhile.
local.serial("AUTH is the proxy's to answer, never Redis's: not forwarded inside MULTI, nor while subscribed, with or without a password", async (t) => {
  const open = await startProxy({ env: backendEnv(redis) });
  t.teardown(() => open.close());
  for (const [port, password] of [
    [open.respPort, 'anything'],
    [proxy.respPort, PASSWORD],
  ] as const) {
    const before = await commandStats();
    const client = await connectRaw(port);
    t.teardown(() => client.destroy());
    client.write(frame('AUTH', 'default', password) + frame('MULTI') + frame('AUTH', 'default', password) + frame('EXEC'));
    t.is(
      await client.readUntil((r) => r.includes('EXECABORT')),
      '+OK\r\n+OK\r\n-ERR AUTH inside MULTI is not supported through redis-cache-proxy; AUTH before MULTI\r\n-EXECABORT Transaction discarded because of previous errors.\r\n',
    );
    client.write(frame('HELLO', '3') + frame('SUBSCRIBE', 'c'));
    await client.readUntil((r) => r.endsWith('>3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n'));
    client.write(frame('AUTH', 'default', password) + frame('AUTH', 'nobody', password));
    const subscribed = await client.readUntil((r) => r.includes('WRONGPASS'));
    t.true(subscribed.endsWith(`>3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n+OK\r\n${WRONGPASS}`), subscribed);
    t.false(
      (await commandStats()).some((line) => line.startsWith('cmdstat_auth:') && !before.includes(line)),
      `port ${port}`,
    );
  }
});

local('protected mode: with PROXY_LISTEN=0.0.0.0 and no password, loopback clients are served on both ports', async (t) => {
  const open = await startProxy({ env: { ...backendEnv(redis), PROXY_LISTEN: '0.0.0.0' } });
  t.teardown(() => open.close());
  await redis.client.set('pm-key', 'pm-value');
  t.is((await run('redis-cli', ['-h', '127.0.0.1', '-p', String(open.respPort), 'GET', 'pm-key'])).stdout, 'pm-value\n');
  t.is(await (await fetch(`http://127.0.0.1:${open.httpPort}/query?key=pm-key`)).text(), 'pm-value');
});

/** An address of this machine that is not loopback, if it has one: a connection to it comes from it, not from 127.0.0.1. */
const outsideAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

(outsideAddress === undefined ? test.skip : local)(
  "protected mode: a client from this machine's own non-loopback address is refused with Redis's DENIED text on RESP and 403 over HTTP; a password or PROTECTED_MODE=no lets it in",
  async (t: ExecutionContext) => {
    const host = outsideAddress!;
    const denied = await startProxy({ env: { ...backendEnv(redis), PROXY_LISTEN: '0.0.0.0' } });
    t.teardown(() => denied.close());
    const reply = await new Promise<string>((resolve) => {
      let received = '';
      const socket = net.connect(denied.respPort, host);
      socket.on('data', (d: Buffer) => (received += d.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', () => resolve(received));
      socket.write(frame('PING'));
    });
    t.true(
      reply.startsWith('-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.'),
      reply,
    );
    t.true(reply.endsWith('\r\n') && reply.split('\r\n').length === 2, reply);
    const http = await fetch(`http://${host}:${denied.httpPort}/query?key=x`);
    t.is(http.status, 403);
    t.is(await http.text(), `${reply.slice(1, -2)}\n`);
    t.is((await fetch(`http://${host}:${denied.httpPort}/healthz`)).status, 200);
    t.is((await run('redis-cli', ['-h', host, '-p', String(denied.respPort), 'PING'])).stdout.split(' ')[0], 'DENIED');
    t.is(
      /^protected_mode_denied:(\d+)$/m.exec((await run('redis-cli', ['-p', String(denied.respPort), 'INFO', 'proxy'])).stdout.replaceAll('\r', ''))?.[1],
      '3',
    );

    const open = await startProxy({ env: { ...backendEnv(redis), PROXY_LISTEN: '0.0.0.0', PROTECTED_MODE: 'no' } });
    t.teardown(() => open.close());
    t.is((await run('redis-cli', ['-h', host, '-p', String(open.respPort), 'PING'])).stdout, 'PONG\n');
    const withPassword = await startProxy({ env: { ...backendEnv(redis), PROXY_LISTEN: '0.0.0.0', PROXY_PASSWORD: PASSWORD } });
    t.teardown(() => withPassword.close());
    t.is((await run('redis-cli', ['-h', host, '-p', String(withPassword.respPort), '--no-auth-warning', '-a', PASSWORD, 'PING'])).stdout, 'PONG\n');
    t.is((await fetch(`http://${host}:${withPassword.httpPort}/query?key=x`, { headers: { authorization: `Bearer ${PASSWORD}` } })).status, 404);
  },
);

local.serial(
  'no password shows anywhere: not in the debug log, INFO, CONFIG GET, CLIENT LIST, MONITOR, /metrics, nor in config errors (which exit 2 naming the key)',
  async (t) => {
    const CLIENT_SECRET = 'cl13nt-s3cr3t-value';
    const BACKEND_SECRET = 'b4ck3nd-s3cr3t-value';
    const secrets = [CLIENT_SECRET, BACKEND_SECRET, encodeURIComponent(CLIENT_SECRET)];
    const backend = await startRedis({ password: BACKEND_SECRET });
    t.teardown(() => backend.close());
    const dir = mkdtempSync(join(tmpdir(), 'rcp-secret-'));
    writeFileSync(join(dir, 'password'), `${CLIENT_SECRET}\n`);
    const env = {
      REDIS_URL: `redis://default:${BACKEND_SECRET}@127.0.0.1:${backend.port}`,
      PROXY_PASSWORD_FILE: join(dir, 'password'),
      LOG_LEVEL: 'debug',
    };
    const secured = await startProxy({ env });
    t.teardown(() => secured.close());
    await backend.client.set('secret-test', 'value');

    // A MONITOR through the proxy while other clients log in, fail to, and open sessions of their own.
    const monitor = await connectRaw(secured.respPort);
    t.teardown(() => monitor.destroy());
    monitor.write(frame('AUTH', CLIENT_SECRET) + frame('MONITOR'));
    await monitor.readUntil((r) => r === '+OK\r\n+OK\r\n');
    const failures = await connectRaw(secured.respPort);
    t.teardown(() => failures.destroy());
    failures.write(frame('AUTH', `${CLIENT_SECRET}x`) + frame('AUTH', 'default', BACKEND_SECRET) + frame('HELLO', '3', 'AUTH', 'default', 'nope'));
    await failures.readUntil((r) => r.split('WRONGPASS').length === 4);
    const user = new Redis({ port: secured.respPort, password: CLIENT_SECRET, lazyConnect: true });
    t.teardown(() => user.disconnect());
    await user.connect();
    t.is(await user.get('secret-test'), 'value');
    t.deepEqual(await user.multi().set('secret-test', 'changed').get('secret-test').exec(), [
      [null, 'OK'],
      [null, 'changed'],
    ]);
    const info = String(await user.call('INFO', 'everything'));
    t.regex(info, /# Proxy[\s\S]*auth_failures:3/);
    const config = (await user.call('CONFIG', 'GET', '*')) as string[];
    t.is(config[config.indexOf('requirepass') + 1], '***', "Redis's requirepass is the proxy's own login");
    const clients = String(await user.call('CLIENT', 'LIST'));
    t.regex(clients, /cmd=hello user=default/);
    for (const authorization of [
      `Bearer ${CLIENT_SECRET}x`,
      `Bearer ${BACKEND_SECRET}`,
      `Basic ${Buffer.from(`default:${CLIENT_SECRET}`).toString('base64')}`,
    ]) {
      await (await secured.http('/query?key=secret-test', { headers: { authorization } })).text();
    }
    const metrics = await (await secured.http('/metrics', { headers: { authorization: `Bearer ${CLIENT_SECRET}` } })).text();
    t.regex(metrics, /^redis_cache_proxy_auth_failures_total 5$/m);
    // The MONITOR saw the clients' commands go to Redis, and the proxy's own logins redacted by Redis.
    const monitored = await monitor.readUntil((r) => r.includes('"exec"'));
    t.regex(monitored, /"AUTH" "\(redacted\)" "\(redacted\)"[\s\S]*"set" "secret-test" "changed"/);

    // Config errors: exit 2, one line naming the key, no password.
    const refused = [
      await runProxyCommand({ env: { ...env, PROXY_PASSWORD: CLIENT_SECRET } }),
      await runProxyCommand({ env: { PROXY_PASSWORD: `${CLIENT_SECRET}\t` } }),
      await runProxyCommand({ env: { PROXY_PASSWORD_FILE: join(dir, 'missing') } }),
      await runProxyCommand({ env: { REDIS_URL: `redis://default:${BACKEND_SECRET}@bad host:1` } }),
      await runProxyCommand({ configFile: `PROXY_PASSWORD ${CLIENT_SECRET}\n` }),
    ];
    t.deepEqual(
      refused.map(({ code, stderr }) => [code, stderr.split('\n').length, /^redis-cache-proxy: [^\n]*(PROXY_PASSWORD|REDIS_URL|\.config:1)/.test(stderr)]),
      refused.map(() => [2, 2, true]),
      refused.map(({ stderr }) => stderr).join(''),
    );
    t.regex(refused[0]!.stderr, /PROXY_PASSWORD and PROXY_PASSWORD_FILE are both set/);
    t.regex(refused[2]!.stderr, /PROXY_PASSWORD_FILE must be a readable file holding the password \(ENOENT\)/);

    user.disconnect();
    await secured.close();
    const everything = { log: secured.output(), info, config: config.join('\n'), clients, metrics, monitored, refused: JSON.stringify(refused) };
    t.regex(everything.log, /"PROXY_PASSWORD_FILE":\{"value":"[^"]+password"/);
    for (const [where, text] of Object.entries(everything)) {
      for (const secret of secrets) t.false(text.includes(secret), `${where} shows a password`);
    }
  },
);

local(
  'at MAX_CLIENTS a newcomer takes the slot of the oldest client not logged in yet; logged-in clients keep theirs, and with none waiting it is refused',
  async (t) => {
    const full = await startProxy({ env: { ...backendEnv(redis), PROXY_PASSWORD: PASSWORD, MAX_CLIENTS: '3' } });
    t.teardown(() => full.close());
    const connect = async () => {
      const client = await connectRaw(full.respPort);
      t.teardown(() => client.destroy());
      return client;
    };
    const logIn = async (client: Awaited<ReturnType<typeof connect>>) => {
      client.write(frame('AUTH', PASSWORD) + frame('PING'));
      return client.readUntil((r) => r.endsWith('+PONG\r\n'));
    };
    // Three that do not log in fill the proxy; each is answered, so each is surely connected before the next.
    const idle = [];
    for (let i = 0; i < 3; i++) {
      const client = await connect();
      client.write(frame('PING'));
      await client.readUntil((r) => r === NOAUTH);
      idle.push(client);
    }
    const first = await connect();
    t.is(await idle[0]!.closed(5000), `${NOAUTH}-ERR max number of clients reached\r\n`);
    t.is(await logIn(first), '+OK\r\n+PONG\r\n');
    t.is(await logIn(idle[1]!), `${NOAUTH}+OK\r\n+PONG\r\n`);
    t.is(await logIn(idle[2]!), `${NOAUTH}+OK\r\n+PONG\r\n`);
    // All three logged in: a fourth is refused as at any full proxy.
    const refused = await connect();
    t.is(await refused.closed(5000), '-ERR max number of clients reached\r\n');
    // RESET logs one out: it is the one a newcomer now replaces.
    first.write(frame('RESET'));
    await first.readUntil((r) => r.endsWith('+RESET\r\n'));
    const second = await connect();
    t.is(await first.closed(5000), '+OK\r\n+PONG\r\n+RESET\r\n-ERR max number of clients reached\r\n');
    t.is(await logIn(second), '+OK\r\n+PONG\r\n');
    idle[1]!.write(frame('GET', 'x'));
    t.is(await idle[1]!.readUntil((r) => r.endsWith('$-1\r\n')), `${NOAUTH}+OK\r\n+PONG\r\n$-1\r\n`);
  },
);

local(
  'without a password, AUTH answers as a Redis without requirepass does, byte for byte: any password for default, WRONGPASS for another user',
  async (t) => {
    const open = await startProxy({ env: backendEnv(redis) });
    t.teardown(() => open.close());
    const requests = [
      frame('AUTH', 'anything'),
      frame('AUTH', 'default', 'anything'),
      frame('AUTH', 'nobody', 'anything'),
      frame('AUTH', 'a', 'b', 'c'),
      frame('HELLO', '2', 'AUTH', 'nobody', 'anything'),
      frame('GET', 'missing-key'),
      frame('RESET'),
      frame('GET', 'missing-key'),
      frame('QUIT'),
    ].join('');
    // A Redis of its own to compare with: the AUTHs sent to it must not count on the shared one.
    const reference = await startRedis();
    t.teardown(() => reference.close());
    const fromProxy = await session(open.respPort, requests);
    t.is(fromProxy, await session(reference.port, requests));
    t.is(
      fromProxy,
      '-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n' +
        `+OK\r\n${WRONGPASS}-ERR syntax error\r\n${WRONGPASS}$-1\r\n+RESET\r\n$-1\r\n+OK\r\n`,
    );
  },
);
