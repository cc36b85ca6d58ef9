// Logs through the real entrypoint: JSON lines with the expected fields, secrets masked, levels, refusals rate-limited, pretty on a terminal.
import { Redis } from 'ioredis';
import { SETTINGS } from '../../src/config.ts';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, type LogLine, parseLogLines, type ProxyProcess, runProxyCommand, startProxy } from '../helpers/proxy-process.ts';
import { connectRaw, type RawClient } from '../helpers/raw-client.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { hasCommand, run } from '../helpers/tools.ts';

/** Against an external proxy these are skipped: each starts a proxy of its own and reads its log. */
const logTest = localOnly('starts a proxy and reads its log');

const PASSWORD = 'pa@ss-w0rd-not-in-logs';
const byEvent = (lines: LogLine[], event: string) => lines.filter((line) => line.event === event);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function healthy(proxy: ProxyProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await proxy.http('/health')).status !== 200) {
    if (Date.now() > deadline) throw new Error('/health did not come back to 200');
    await sleep(50);
  }
}

/** backend_reads from the proxy's INFO, asked on an open raw RESP connection. */
async function backendReads(client: RawClient, asked: number): Promise<number> {
  client.write('INFO cache\r\n');
  const received = await client.readUntil((r) => r.split('backend_reads:').length > asked);
  return Number(received.split('backend_reads:')[asked]!.split('\r\n')[0]);
}

logTest.serial(
  'LOG_FORMAT=json: every stderr line is JSON with level, time and msg; start, backend, listening and shutdown lines carry their fields; no secret',
  async (t) => {
    const redis = await startRedis({ password: PASSWORD });
    t.teardown(() => redis.close());
    // The password holds an @ (valid unencoded in a URL): it must not show in part either.
    const url = `redis://default:${PASSWORD}@127.0.0.1:${redis.port}/0`;
    const proxy = await startProxy({ env: { REDIS_URL: url, LOG_FORMAT: 'json', REDIS_TIMEOUT: '0.5', CACHE_CAPACITY: '500' } });
    t.teardown(() => proxy.stop());

    // Start: every setting's value and where it came from.
    const [start] = byEvent(proxy.logs(), 'start');
    t.like(start, { level: 'info', event: 'start', version: '0.1.0', node: process.version });
    const settings = start!.settings as Record<string, { value: string | null; from: string }>;
    t.deepEqual(settings.REDIS_URL, { value: `redis://default:***@127.0.0.1:${redis.port}/0`, from: 'environment' });
    t.deepEqual(settings.CACHE_CAPACITY, { value: '500', from: 'environment' });
    t.deepEqual(settings.CACHE_EXPIRY, { value: '60', from: 'default' });
    t.deepEqual(settings.LOG_FORMAT, { value: 'json', from: 'environment' });
    t.deepEqual(settings.LOG_LEVEL, { value: 'info', from: 'default' });
    t.deepEqual(
      Object.keys(settings),
      SETTINGS.map((s) => s.key),
    );

    const backend = `127.0.0.1:${redis.port}`;
    t.like(byEvent(proxy.logs(), 'backend_connected')[0], { level: 'info', backend, msg: `backend ${backend} connected` });
    t.like(byEvent(proxy.logs(), 'listening')[0], {
      level: 'info',
      http: `127.0.0.1:${proxy.httpPort}`,
      resp: `127.0.0.1:${proxy.respPort}`,
      backend: `redis://${backend}/0`,
    });

    // Traffic at the default level logs nothing: not per request, not per connection.
    const before = proxy.logs().length;
    await redis.client.set('k', 'v');
    const client = new Redis({ port: proxy.respPort });
    for (let i = 0; i < 50; i++) t.is(await client.get(i % 2 ? 'k' : `absent-${i}`), i % 2 ? 'v' : null);
    client.disconnect();
    for (let i = 0; i < 20; i++) t.is((await proxy.http('/query?key=k')).status, 200);
    t.is(proxy.logs().length, before, 'no line for requests or connections at info');

    // Redis stopped, then back: lost (with the reason), unavailable while down, reconnected.
    await redis.stop();
    const lost = await proxy.waitForLog((line) => line.event === 'backend_lost', 'the lost connection');
    t.like(lost, { level: 'warn', backend });
    t.is(typeof lost.reason, 'string');
    t.regex(lost.msg, new RegExp(`^backend ${backend}: connection lost \\(.+\\), reconnecting$`));
    const down = await proxy.waitForLog((line) => line.event === 'backend_unavailable', 'the failed reconnect');
    t.like(down, { level: 'warn', backend, reason: `connect ECONNREFUSED ${backend}` });
    await redis.restart();
    const back = await proxy.waitForLog((line) => line.event === 'backend_reconnected', 'the reconnection');
    t.like(back, { level: 'info', backend, msg: `backend ${backend} reconnected` });

    t.is(await proxy.stop('SIGTERM'), 0);
    const lines = proxy.logs();
    t.like(byEvent(lines, 'shutdown')[0], { level: 'info', signal: 'SIGTERM', timeoutMs: 10_000 });
    // Written before process.exit(): the last line is not lost.
    t.like(lines.at(-1), { level: 'info', event: 'stopped' });

    const stderr = proxy.output();
    t.false(stderr.includes(PASSWORD) || stderr.includes('w0rd'), 'the password, or a part of it, is logged');
    for (const line of lines) {
      t.true(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(line.level), JSON.stringify(line));
      t.regex(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      t.is(typeof line.msg, 'string');
      t.is(typeof line.event, 'string', `every line says which event it is: ${JSON.stringify(line)}`);
    }
    t.is(stderr.split('\n').filter((l) => l !== '').length, lines.length, 'nothing but JSON lines on stderr');
  },
);

logTest.serial('50 connections refused at MAX_CLIENTS=1 on each port give one warning line at once and one with the rest, not 50', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const proxy = await startProxy({ env: { ...backendEnv(redis), MAX_CLIENTS: '1', REDIS_TIMEOUT: '30' } });
  t.teardown(() => proxy.stop());

  // RESP: one client holds the only slot; 50 more are refused with Redis's error.
  const holder = await connectRaw(proxy.respPort);
  t.teardown(() => holder.destroy());
  holder.write('PING\r\n');
  await holder.readUntil((r) => r === '+PONG\r\n');
  for (let i = 0; i < 50; i++) {
    const refused = await connectRaw(proxy.respPort);
    t.is(await refused.closed(5000), '-ERR max number of clients reached\r\n');
  }

  // HTTP: one request waits for a frozen Redis, so its slot is answering and cannot be given up.
  await redis.client.set('k', 'v');
  const readsBefore = await backendReads(holder, 1);
  redis.signal('SIGSTOP');
  t.teardown(() => redis.signal('SIGCONT'));
  const waiting = proxy.http('/query?key=k');
  // Its read has left for Redis: the request is being answered.
  for (let asked = 2; (await backendReads(holder, asked)) === readsBefore; asked++) await sleep(20);
  for (let i = 0; i < 50; i++) {
    const refused = await connectRaw(proxy.httpPort);
    t.is(await refused.closed(5000), '', 'closed without a reply');
  }
  redis.signal('SIGCONT');
  t.is(await (await waiting).text(), 'v');

  const warnings = (frontEnd: string) => byEvent(proxy.logs(), 'clients_refused').filter((line) => line.frontEnd === frontEnd);
  for (const frontEnd of ['resp', 'http']) {
    const [first] = warnings(frontEnd);
    t.like(first, { level: 'warn', refused: 1, maxClients: 1, periodSeconds: 0 }, frontEnd);
  }
  // Within the 10 s interval nothing more is logged; shutdown reports the rest.
  t.true(warnings('resp').length <= 2 && warnings('http').length <= 2);
  t.is(await proxy.stop('SIGTERM'), 0);
  for (const frontEnd of ['resp', 'http']) {
    const lines = warnings(frontEnd);
    t.true(lines.length === 2, `${frontEnd}: ${JSON.stringify(lines)}`);
    t.is(
      lines.reduce((sum, line) => sum + Number(line.refused), 0),
      50,
      `${frontEnd}: every refusal counted once`,
    );
    t.regex(lines[1]!.msg, new RegExp(`^${frontEnd.toUpperCase()} port refused 49 connections in the last [\\d.]+ s: MAX_CLIENTS \\(1\\) reached`));
  }
});

logTest.serial('LOG_LEVEL=warn hides the info lines and keeps the warnings', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const proxy = await startProxy({ env: { ...backendEnv(redis), LOG_LEVEL: 'warn', REDIS_TIMEOUT: '0.5' }, quiet: true });
  t.teardown(() => proxy.stop());
  t.is((await proxy.http('/health')).status, 200);
  t.deepEqual(proxy.logs(), [], 'start, connected and listening are info');
  await redis.stop();
  const lost = await proxy.waitForLog((line) => line.event === 'backend_lost', 'the lost connection');
  t.is(lost.level, 'warn');
  await redis.restart();
  await healthy(proxy); // reconnected, logged at info: hidden
  t.is(await proxy.stop('SIGTERM'), 0);
  t.deepEqual(
    proxy.logs().filter((line) => line.level === 'info' || line.level === 'debug'),
    [],
  );
  t.true(
    proxy.logs().every((line) => line.level === 'warn'),
    JSON.stringify(proxy.logs()),
  );
});

logTest.serial('LOG_LEVEL=debug adds a line per RESP client connecting and leaving', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const proxy = await startProxy({ env: { ...backendEnv(redis), LOG_LEVEL: 'debug' } });
  t.teardown(() => proxy.stop());
  const client = new Redis({ port: proxy.respPort });
  t.is(await client.ping(), 'PONG');
  await client.quit();
  const connected = await proxy.waitForLog((line) => line.event === 'client_connected', 'the client connecting');
  t.like(connected, { level: 'debug', frontEnd: 'resp' });
  t.regex(String(connected.remote), /^127\.0\.0\.1:\d+$/);
  const left = await proxy.waitForLog((line) => line.event === 'client_disconnected', 'the client leaving');
  t.like(left, { level: 'debug', frontEnd: 'resp', id: connected.id });
});

logTest.serial('LOG_LEVEL=bogus and LOG_FORMAT=xml exit 2 with one line naming the key', async (t) => {
  const level = await runProxyCommand({ env: { LOG_LEVEL: 'bogus' } });
  t.is(level.code, 2);
  t.is(level.stderr, 'redis-cache-proxy: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "bogus" (from environment)\n');
  const format = await runProxyCommand({ args: ['--log-format', 'xml'] });
  t.is(format.code, 2);
  t.is(format.stderr, 'redis-cache-proxy: LOG_FORMAT must be one of json, pretty, auto, got "xml" (from --log-format)\n');
});

logTest.serial('LOG_FORMAT=pretty: one readable line per event, no colour codes when stderr is not a terminal', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const proxy = await startProxy({ env: { ...backendEnv(redis), LOG_FORMAT: 'pretty' } });
  t.is(await proxy.stop('SIGTERM'), 0);
  const lines = proxy.output().trimEnd().split('\n');
  t.throws(() => parseLogLines(proxy.output()));
  t.regex(lines[0]!, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: starting redis-cache-proxy 0\.1\.0 on Node v[\d.]+ \{"event":"start",/);
  t.true(
    lines.some((line) =>
      new RegExp(`\\] INFO: listening http=127\\.0\\.0\\.1:${proxy.httpPort} resp=127\\.0\\.0\\.1:${proxy.respPort} backend=redis://`).test(line),
    ),
  );
  t.regex(lines.at(-1)!, /\] INFO: stopped: every connection closed \{"event":"stopped"\}$/);
  t.false(proxy.output().includes('\u001b['));
});

logTest.serial('LOG_FORMAT=auto is pretty, in colour, when stderr is a terminal', async (t) => {
  if (!hasCommand('script')) return t.pass('script(1) is not installed: no terminal to run under');
  const redis = await startRedis();
  t.teardown(() => redis.close());
  // script(1) runs the proxy on a terminal; timeout(1) stops it with SIGTERM once it has logged its start.
  const main = new URL('../../src/main.ts', import.meta.url).pathname;
  const command = `env -u NO_COLOR REDIS_PORT=${redis.port} PROXY_PORT=0 RESP_PORT=0 timeout -s TERM 3 ${process.execPath} ${main}`;
  const { stdout } = await run('script', ['-qec', command, '/dev/null'], '', 20_000);
  const text = stdout.replaceAll('\r', '');
  // eslint-disable-next-line no-control-regex -- the escape codes of a coloured terminal are what is checked
  t.regex(text, /\u001b\[32mINFO\u001b\[39m: \u001b\[36mlistening http=/, text);
  t.notRegex(text, /^\{"level"/m);
});
