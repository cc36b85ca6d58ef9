// TLS on both sides: clients over TLS_PORT (redis-cli --tls, ioredis, node-redis, client certificates, SIGHUP reload) and the proxy to a TLS-only Redis over rediss://.
import { copyFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { localOnly } from '../helpers/local-only.ts';
import { backendEnv, runProxyCommand, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { freePort, startRedis, type RedisTls, type TestRedis } from '../helpers/redis-server.ts';
import { makeTestCerts, type CertFiles } from '../helpers/tls-certs.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.ts';
import { requireTool, run } from '../helpers/tools.ts';

requireTool('redis-cli');
requireTool('openssl');

const certs = makeTestCerts();
test.after.always(() => certs.remove());

const serial = localOnly('starts proxies with TLS settings and Redis servers with TLS').serial;

/** A Redis and a proxy in front of it with a TLS port (TLS_AUTH_CLIENTS=no unless `env` says otherwise). */
async function startTlsProxy(
  t: ExecutionContext,
  env: Record<string, string> = {},
  redis?: TestRedis,
): Promise<{ redis: TestRedis; proxy: ProxyProcess; tlsPort: number }> {
  if (!redis) {
    redis = await startRedis();
    t.teardown(() => redis!.close());
  }
  const tlsPort = await freePort();
  const proxy = await startProxy({
    env: {
      ...backendEnv(redis),
      TLS_PORT: String(tlsPort),
      TLS_CERT_FILE: certs.server.cert,
      TLS_KEY_FILE: certs.server.key,
      TLS_AUTH_CLIENTS: 'no',
      ...env,
    },
  });
  t.teardown(() => proxy.stop());
  return { redis, proxy, tlsPort };
}

interface TlsClientOptions {
  ca?: CertFiles;
  client?: CertFiles;
}

/** A node:tls connection to `port`: resolves once the handshake passed, with the socket; rejects with the handshake's error. */
function tlsConnect(port: number, { ca = certs.ca, client }: TlsClientOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, cert: client?.certPem, key: client?.keyPem, servername: 'localhost' });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Sends `command` over a TLS connection and resolves with the first reply line, or with `closed: …` when
 * the server ends the connection first (TLS 1.3 finishes the client's side of the handshake before the
 * server has checked the client's certificate: a refusal arrives as an alert or a close after it).
 */
async function tlsRequest(port: number, command: string, options: TlsClientOptions = {}): Promise<string> {
  let socket: tls.TLSSocket;
  try {
    socket = await tlsConnect(port, options);
  } catch (err) {
    return `handshake failed: ${(err as Error).message}`;
  }
  return new Promise((resolve) => {
    let received = '';
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (received.includes('\r\n')) {
        socket.destroy();
        resolve(received.slice(0, received.indexOf('\r\n')));
      }
    });
    socket.once('error', (err: Error) => resolve(`closed: ${err.message}`));
    socket.once('close', () => resolve(`closed: ${received}`));
    socket.write(`${command}\r\n`);
  });
}

const cli = (port: number, args: string[]) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
const infoField = (info: string, name: string) => new RegExp(`^${name}:(.*)\\r?$`, 'm').exec(info)?.[1];

serial('TLS_PORT: redis-cli --tls, ioredis and node-redis rediss:// read the right values, served from the cache', async (t) => {
  const { redis, proxy, tlsPort } = await startTlsProxy(t);
  await redis.client.mset({ hero: 'Batman', villain: 'Joker', city: 'Gotham' });

  const viaCli = await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, 'GET', 'hero']);
  t.is(viaCli.code, 0, viaCli.stderr);
  t.is(viaCli.stdout, 'Batman\n');

  const ioredis = new Redis({ port: tlsPort, host: '127.0.0.1', tls: { ca: certs.ca.certPem }, lazyConnect: true });
  t.teardown(() => ioredis.disconnect());
  await ioredis.connect();
  t.is(await ioredis.get('villain'), 'Joker');

  const nodeRedis = createClient({ url: `rediss://localhost:${tlsPort}`, socket: { tls: true, ca: certs.ca.certPem } });
  nodeRedis.on('error', () => {});
  await nodeRedis.connect();
  t.teardown(() => nodeRedis.destroy());
  t.is(await nodeRedis.get('city'), 'Gotham');

  // Every value is now cached: reads over TLS, on either port, do not reach Redis.
  const reads = await redis.readsDuring(async () => {
    t.is((await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, 'GET', 'hero'])).stdout, 'Batman\n');
    t.is(await ioredis.get('villain'), 'Joker');
    t.is(await nodeRedis.get('city'), 'Gotham');
    t.is((await cli(proxy.respPort, ['GET', 'hero'])).stdout, 'Batman\n');
  });
  t.is(reads, 0);
  // Writes over TLS go through, and the cache sees them.
  t.is(await ioredis.set('hero', 'Robin'), 'OK');
  t.is(await nodeRedis.get('hero'), 'Robin');
  t.is(await redis.client.get('hero'), 'Robin');

  // One front end: INFO counts both ports' clients and names the TLS port; CLIENT LIST lists them.
  const info = await ioredis.info('proxy');
  t.is(infoField(info, 'tls_port'), String(tlsPort));
  t.is(infoField(info, 'connected_clients'), '2');
  const list = await nodeRedis.sendCommand<string>(['CLIENT', 'LIST']);
  t.is(list.trim().split('\n').length, 2);
  t.is(infoField(info, 'tls_handshake_failures'), '0');
});

serial('TLS_PORT with PROXY_PASSWORD: a TLS client is refused before AUTH and served after it, by redis-cli, ioredis and node-redis', async (t) => {
  const { redis, tlsPort } = await startTlsProxy(t, { PROXY_PASSWORD: 'tls-and-pass' });
  await redis.client.set('hero', 'Batman');
  const noAuth = await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, 'GET', 'hero']);
  t.is(noAuth.stdout.trim(), 'NOAUTH Authentication required.');
  const withAuth = await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, '--no-auth-warning', '-a', 'tls-and-pass', 'GET', 'hero']);
  t.is(withAuth.stdout, 'Batman\n');
  const wrong = await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, '--no-auth-warning', '-a', 'nope', 'GET', 'hero']);
  t.regex(wrong.stdout + wrong.stderr, /WRONGPASS invalid username-password pair or user is disabled/);
  const ioredis = new Redis({ port: tlsPort, host: '127.0.0.1', tls: { ca: certs.ca.certPem }, password: 'tls-and-pass', lazyConnect: true });
  t.teardown(() => ioredis.disconnect());
  await ioredis.connect();
  t.is(await ioredis.get('hero'), 'Batman');
  const nodeRedis = createClient({ url: `rediss://default:tls-and-pass@localhost:${tlsPort}`, socket: { tls: true, ca: certs.ca.certPem } });
  nodeRedis.on('error', () => {});
  await nodeRedis.connect();
  t.teardown(() => nodeRedis.destroy());
  t.is(await nodeRedis.get('hero'), 'Batman');
});

serial('TLS_PORT: a client that does not trust the certificate fails, and the proxy counts it and serves on', async (t) => {
  const { proxy, tlsPort, redis } = await startTlsProxy(t);
  await redis.client.set('k', 'v');
  const untrusting = await cli(tlsPort, ['--tls', 'GET', 'k']);
  t.not(untrusting.stdout, 'v\n');
  t.regex(untrusting.stderr + untrusting.stdout, /certificate verify failed|SSL/i);
  const otherCa = await tlsRequest(tlsPort, 'GET k', { ca: certs.otherCa });
  t.regex(otherCa, /^handshake failed: .*(self.signed|unable to verify|local issuer)/i);
  // A plain client on the TLS port is not TLS: its handshake fails too, without a reply in clear text.
  const plain = await run('redis-cli', ['-p', String(tlsPort), 'PING'], '', 20_000);
  t.not(plain.stdout, 'PONG\n');
  t.is((await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, 'GET', 'k'])).stdout, 'v\n');
  const warned = await proxy.waitForLog((l) => l.event === 'tls_handshake_failed', 'the failed handshake warning');
  // OpenSSL's reason alone, without its codes and source file.
  t.regex(String(warned.reason), /^[a-z0-9 ]+$/i);
  const info = (await cli(proxy.respPort, ['INFO', 'proxy'])).stdout;
  t.true(Number(infoField(info, 'tls_handshake_failures')) >= 2, info);
  // Rate-limited: the first failure is logged at once, the others only counted for the next line.
  t.is(proxy.logs().filter((l) => l.event === 'tls_handshake_failed').length, 1);
  t.true(await proxy.running());
});

serial('TLS_AUTH_CLIENTS=yes: no client certificate or one from another CA is refused; one signed by TLS_CA_CERT_FILE is served', async (t) => {
  const { redis, proxy, tlsPort } = await startTlsProxy(t, { TLS_AUTH_CLIENTS: 'yes', TLS_CA_CERT_FILE: certs.ca.cert });
  await redis.client.set('k', 'mutual');
  t.regex(await tlsRequest(tlsPort, 'GET k'), /^(handshake failed|closed): /);
  t.regex(await tlsRequest(tlsPort, 'GET k', { client: certs.otherClient }), /^(handshake failed|closed): /);
  t.is(await tlsRequest(tlsPort, 'GET k', { client: certs.client }), '$6');
  const withCert = await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, '--cert', certs.client.cert, '--key', certs.client.key, 'GET', 'k']);
  t.is(withCert.stdout, 'mutual\n');
  const withoutCert = await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, 'GET', 'k']);
  t.not(withoutCert.stdout, 'mutual\n');
  const info = (await cli(proxy.respPort, ['INFO', 'proxy'])).stdout;
  t.is(infoField(info, 'tls_handshake_failures'), '3');
});

serial('TLS_AUTH_CLIENTS=optional: served without a certificate and with a trusted one; one from another CA is refused', async (t) => {
  const { redis, tlsPort } = await startTlsProxy(t, { TLS_AUTH_CLIENTS: 'optional', TLS_CA_CERT_FILE: certs.ca.cert });
  await redis.client.set('k', 'opt');
  t.is(await tlsRequest(tlsPort, 'GET k'), '$3');
  t.is(await tlsRequest(tlsPort, 'GET k', { client: certs.client }), '$3');
  t.regex(await tlsRequest(tlsPort, 'GET k', { client: certs.otherClient }), /^(handshake failed|closed): /);
});

serial('RESP_PORT=off: only the TLS port serves; INFO shows tcp_port 0 and the listening line resp=off', async (t) => {
  const { redis, proxy, tlsPort } = await startTlsProxy(t, { RESP_PORT: 'off' });
  await redis.client.set('k', 'tls only');
  t.is(proxy.respPort, 0);
  t.regex(proxy.output(), new RegExp(`listening http=127\\.0\\.0\\.1:\\d+ resp=off backend=\\S+ tls=127\\.0\\.0\\.1:${tlsPort}`));
  const info = await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, 'INFO', 'proxy']);
  t.is(infoField(info.stdout, 'tcp_port'), '0');
  t.is(infoField(info.stdout, 'tls_port'), String(tlsPort));
  t.is((await cli(tlsPort, ['--tls', '--cacert', certs.ca.cert, 'GET', 'k'])).stdout, 'tls only\n');
});

serial('a TLS_PORT already in use is a clear error naming it', async (t) => {
  const { redis, tlsPort } = await startTlsProxy(t);
  const files = { TLS_CERT_FILE: certs.server.cert, TLS_KEY_FILE: certs.server.key, TLS_AUTH_CLIENTS: 'no' };
  const { code, stderr } = await runProxyCommand({ env: { ...backendEnv(redis), TLS_PORT: String(tlsPort), ...files } });
  t.is(code, 1);
  t.regex(stderr, /cannot start: .*EADDRINUSE.*change PROXY_PORT or RESP_PORT, or TLS_PORT/);
});

serial('MAX_CLIENTS counts plain and TLS clients together', async (t) => {
  const { proxy, tlsPort } = await startTlsProxy(t, { MAX_CLIENTS: '1' });
  const plain = new Redis({ port: proxy.respPort, lazyConnect: true });
  t.teardown(() => plain.disconnect());
  await plain.connect();
  t.is(await plain.ping(), 'PONG');
  t.is(await tlsRequest(tlsPort, 'PING'), '-ERR max number of clients reached');
  plain.disconnect();
  await new Promise((r) => setTimeout(r, 100));
  t.is(await tlsRequest(tlsPort, 'PING'), '+PONG');
});

serial('SIGHUP reloads the certificate: new connections get the new one, open ones keep working; a bad reload keeps the old one', async (t) => {
  const dir = certs.dir;
  const cert = join(dir, 'served.crt');
  const key = join(dir, 'served.key');
  copyFileSync(certs.server.cert, cert);
  copyFileSync(certs.server.key, key);
  const { redis, proxy, tlsPort } = await startTlsProxy(t, { TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
  await redis.client.set('k', 'before');
  const old = new Redis({ port: tlsPort, host: '127.0.0.1', tls: { ca: certs.ca.certPem }, lazyConnect: true });
  t.teardown(() => old.disconnect());
  await old.connect();
  t.is(await old.get('k'), 'before');
  const servedSerial = async () => {
    const socket = await tlsConnect(tlsPort);
    const { serialNumber, subject } = socket.getPeerCertificate();
    socket.destroy();
    return { serialNumber, cn: subject.CN };
  };
  t.deepEqual(await servedSerial(), { serialNumber: '03E9', cn: 'localhost' });

  const renewed = certs.issue('renewed', { serial: 1002, cn: 'renewed.localhost' });
  copyFileSync(renewed.cert, cert);
  copyFileSync(renewed.key, key);
  proxy.child.kill('SIGHUP');
  const reloaded = await proxy.waitForLog((l) => l.event === 'tls_reloaded', 'the reload');
  t.is(reloaded.serial, '03EA');
  t.deepEqual(await servedSerial(), { serialNumber: '03EA', cn: 'renewed.localhost' });
  // The connection opened before the reload still has its session, and still works.
  await redis.client.set('k2', 'after');
  t.is(await old.get('k2'), 'after');

  // A reload with files that cannot serve: logged, and the renewed certificate stays in use.
  writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
  proxy.child.kill('SIGHUP');
  const failed = await proxy.waitForLog((l) => l.event === 'tls_reload_failed', 'the failed reload');
  t.regex(failed.msg, /TLS_CERT_FILE=.*served\.crt/);
  t.true(await proxy.running());
  t.deepEqual(await servedSerial(), { serialNumber: '03EA', cn: 'renewed.localhost' });
  t.is(await old.get('k'), 'before');
  // No key material in any log line.
  const keyBody = renewed.keyPem.toString().split('\n')[1]!;
  t.false(proxy.output().includes(keyBody));
});

serial('TLS_PORT: a client that sends its requests and shuts its side gets every reply; failed handshakes leave no socket behind', async (t) => {
  const { redis, proxy, tlsPort } = await startTlsProxy(t, { TLS_AUTH_CLIENTS: 'yes', TLS_CA_CERT_FILE: certs.ca.cert });
  await redis.client.mset({ a: '1', b: '2', c: '3' });
  // Misses: their replies wait on Redis after the client's end of stream has arrived.
  const replies = await new Promise<string>((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: tlsPort,
      ca: certs.ca.certPem,
      cert: certs.client.certPem,
      key: certs.client.keyPem,
      servername: 'localhost',
    });
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.once('close', () => resolve(received));
    socket.once('error', reject);
    socket.once('secureConnect', () => socket.end('GET a\r\nGET b\r\nGET c\r\n'));
  });
  t.is(replies, '$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n');

  const openFds = async () => sampleValue(parsePrometheusText(await (await proxy.http('/metrics')).text()), 'process_open_fds');
  const before = await openFds();
  for (let i = 0; i < 30; i++) t.regex(await tlsRequest(tlsPort, 'PING'), /^(handshake failed|closed): /);
  const metrics = parsePrometheusText(await (await proxy.http('/metrics')).text());
  t.is(sampleValue(metrics, 'redis_cache_proxy_tls_handshake_failures_total'), 30);
  // Each refused client's socket is closed by the proxy: the count of open descriptors comes back (give or
  // take the HTTP connections fetch keeps for these requests), where 30 leaked sockets would show as 30.
  const deadline = Date.now() + 5000;
  while ((await openFds()) > before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.true((await openFds()) <= before + 2, `open fds ${await openFds()}, before ${before}`);
  t.is(sampleValue(metrics, 'redis_cache_proxy_resp_clients'), 0);
});

serial('shutdown drains both ports: a TLS client owed a reply gets it, then the proxy exits 0', async (t) => {
  const { redis, proxy, tlsPort } = await startTlsProxy(t, { SHUTDOWN_TIMEOUT: '5' });
  await redis.client.set('slow', 'answered');
  const client = new Redis({
    port: tlsPort,
    host: '127.0.0.1',
    tls: { ca: certs.ca.certPem },
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  await client.connect();
  // Redis frozen: the GET is received and owed when SIGTERM arrives.
  redis.signal('SIGSTOP');
  const reply = client.get('slow');
  await new Promise((r) => setTimeout(r, 100));
  const exited = proxy.stop('SIGTERM');
  await proxy.waitForLog((l) => l.event === 'shutdown', 'the shutdown line');
  t.regex(await tlsRequest(tlsPort, 'PING'), /^handshake failed: .*ECONNREFUSED/);
  redis.signal('SIGCONT');
  t.is(await reply, 'answered');
  t.is(await exited, 0);
});

/** A TLS-only Redis (`--port 0`), closed when the test ends. */
async function startTlsRedis(t: ExecutionContext, tlsOptions: RedisTls): Promise<TestRedis> {
  const redis = await startRedis({ tls: tlsOptions });
  t.teardown(() => redis.close());
  return redis;
}

serial('rediss:// to a TLS-only Redis with a private CA: cached reads, writes, transactions and tracking all go over TLS', async (t) => {
  const redis = await startTlsRedis(t, { server: certs.server, ca: certs.ca });
  await redis.client.set('k', 'secure');
  const proxy = await startProxy({ env: { REDIS_URL: `rediss://127.0.0.1:${redis.port}`, REDIS_TLS_CA_CERT_FILE: certs.ca.cert } });
  t.teardown(() => proxy.stop());
  const client = new Redis({ port: proxy.respPort, lazyConnect: true });
  t.teardown(() => client.disconnect());
  await client.connect();
  t.is(await client.get('k'), 'secure');
  t.is(await redis.readsDuring(async () => t.is(await client.get('k'), 'secure')), 0);
  // A forwarded write, and a transaction on a connection of the client's own (pinned): both over TLS.
  t.is(await client.set('k', 'changed'), 'OK');
  t.is(await client.get('k'), 'changed');
  t.deepEqual(await client.multi().incr('n').incr('n').exec(), [
    [null, 1],
    [null, 2],
  ]);
  // Someone else's write reaches the cache through the tracking connection's invalidation.
  await redis.client.set('k', 'by-someone-else');
  const deadline = Date.now() + 5000;
  while ((await client.get('k')) !== 'by-someone-else' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(await client.get('k'), 'by-someone-else');
  t.is(await proxy.http('/query?key=k').then((r) => r.text()), 'by-someone-else');
  // The backend has no plain port at all (--port 0): every one of these went over TLS.
  const clients = (await redis.client.client('LIST')) as string;
  t.true(clients.split('\n').filter((l) => l.includes('name=redis-cache-proxy')).length >= 2, clients);
});

serial('rediss:// with REDIS_TLS_SERVER_NAME: the certificate is checked against that name', async (t) => {
  const redis = await startTlsRedis(t, { server: certs.server, ca: certs.ca });
  await redis.client.set('k', 'named');
  const good = await startProxy({
    env: { REDIS_URL: `rediss://127.0.0.1:${redis.port}`, REDIS_TLS_CA_CERT_FILE: certs.ca.cert, REDIS_TLS_SERVER_NAME: 'localhost' },
  });
  t.teardown(() => good.stop());
  t.is(await (await good.http('/query?key=k')).text(), 'named');
  const bad = await startProxy({
    env: {
      REDIS_URL: `rediss://127.0.0.1:${redis.port}`,
      REDIS_TLS_CA_CERT_FILE: certs.ca.cert,
      REDIS_TLS_SERVER_NAME: 'cache.example.com',
      REDIS_TIMEOUT: '0.5',
    },
  });
  t.teardown(() => bad.stop());
  const response = await bad.http('/query?key=k');
  t.is(response.status, 503);
  t.regex(await response.text(), /TLS: .*cache\.example\.com/);
});

serial('rediss:// to a Redis whose certificate another CA signed: every read gets an error naming the backend, nothing crashes', async (t) => {
  const redis = await startTlsRedis(t, { server: certs.otherServer, ca: certs.otherCa });
  const proxy = await startProxy({ env: { REDIS_URL: `rediss://127.0.0.1:${redis.port}`, REDIS_TLS_CA_CERT_FILE: certs.ca.cert, REDIS_TIMEOUT: '0.5' } });
  t.teardown(() => proxy.stop());
  const client = new Redis({ port: proxy.respPort, lazyConnect: true });
  t.teardown(() => client.disconnect());
  await client.connect();
  const err = (await client.get('k').catch((e: Error) => e)) as Error;
  t.regex(
    err.message,
    new RegExp(`^ERR backend Redis at 127\\.0\\.0\\.1:${redis.port} is unavailable \\(TLS: .*(self.signed|unable to verify|local issuer)`, 'i'),
  );
  t.is((await proxy.http('/query?key=k')).status, 503);
  t.is(await client.ping(), 'PONG');
  t.true(await proxy.running());
});

serial('rediss:// mutual TLS: with REDIS_TLS_CERT_FILE and KEY_FILE the proxy is served; without them every read fails clearly', async (t) => {
  const redis = await startTlsRedis(t, { server: certs.server, ca: certs.ca, authClients: 'yes', client: certs.client });
  await redis.client.set('k', 'mtls');
  const url = `rediss://127.0.0.1:${redis.port}`;
  const withCert = await startProxy({
    env: { REDIS_URL: url, REDIS_TLS_CA_CERT_FILE: certs.ca.cert, REDIS_TLS_CERT_FILE: certs.client.cert, REDIS_TLS_KEY_FILE: certs.client.key },
  });
  t.teardown(() => withCert.stop());
  const served = new Redis({ port: withCert.respPort, lazyConnect: true });
  t.teardown(() => served.disconnect());
  await served.connect();
  t.is(await served.get('k'), 'mtls');
  t.deepEqual(await served.multi().get('k').exec(), [[null, 'mtls']]);

  const withoutCert = await startProxy({ env: { REDIS_URL: url, REDIS_TLS_CA_CERT_FILE: certs.ca.cert, REDIS_TIMEOUT: '0.5' } });
  t.teardown(() => withoutCert.stop());
  const refused = new Redis({ port: withoutCert.respPort, lazyConnect: true });
  t.teardown(() => refused.disconnect());
  await refused.connect();
  const err = (await refused.get('k').catch((e: Error) => e)) as Error;
  t.regex(err.message, new RegExp(`^ERR backend Redis at 127\\.0\\.0\\.1:${redis.port} is unavailable \\(`));
  t.regex(err.message, /\(TLS: tlsv13 alert certificate required \(Redis asks for a client certificate: set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE\)\)$/);
  t.true(await withoutCert.running());
});

serial('bad TLS settings stop the start with exit code 2 and one line naming the setting, never the key', async (t) => {
  const base = { TLS_PORT: String(await freePort()), TLS_AUTH_CLIENTS: 'no' };
  const cases: [Record<string, string>, RegExp][] = [
    [{ ...base, TLS_CERT_FILE: certs.server.cert }, /TLS_PORT=\d+ needs TLS_CERT_FILE and TLS_KEY_FILE/],
    [{ ...base, TLS_CERT_FILE: join(certs.dir, 'missing.crt'), TLS_KEY_FILE: certs.server.key }, /TLS_CERT_FILE=.*missing\.crt cannot be read \(ENOENT\)/],
    // A key given as the certificate: refused without a byte of the key in the message.
    [{ ...base, TLS_CERT_FILE: certs.server.key, TLS_KEY_FILE: certs.server.key }, /TLS_CERT_FILE=.*server\.key holds no certificate/],
    [{ ...base, TLS_CERT_FILE: certs.server.cert, TLS_KEY_FILE: certs.client.key }, /TLS_CERT_FILE=.*TLS_KEY_FILE=.* cannot be used: .*key values mismatch/],
    [{ ...base, TLS_AUTH_CLIENTS: 'yes', TLS_CERT_FILE: certs.server.cert, TLS_KEY_FILE: certs.server.key }, /TLS_AUTH_CLIENTS=yes needs TLS_CA_CERT_FILE/],
    [{ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TLS_CA_CERT_FILE: certs.ca.cert }, /REDIS_TLS_CA_CERT_FILE is set .* but the backend is not TLS/],
    [{ REDIS_URL: 'rediss://127.0.0.1:6379', REDIS_TLS_CA_CERT_FILE: certs.server.key }, /REDIS_TLS_CA_CERT_FILE=.*server\.key holds no certificate/],
    [{ REDIS_URL: 'rediss://127.0.0.1:6379', REDIS_TLS_CERT_FILE: certs.client.cert }, /REDIS_TLS_CERT_FILE needs REDIS_TLS_KEY_FILE too/],
    // A certificate whose body is not a certificate: OpenSSL's reason, with the setting named.
    [{ ...base, TLS_CERT_FILE: join(certs.dir, 'openssl.cnf'), TLS_KEY_FILE: certs.server.key }, /TLS_CERT_FILE=.*openssl\.cnf holds no certificate/],
  ];
  const garbled = join(certs.dir, 'garbled.crt');
  writeFileSync(garbled, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
  cases.push([{ ...base, TLS_CERT_FILE: garbled, TLS_KEY_FILE: certs.server.key }, /TLS_CERT_FILE=.*garbled\.crt, TLS_KEY_FILE=.* cannot be used: /]);
  const keyBody = certs.server.keyPem.toString().split('\n')[1]!;
  for (const [env, message] of cases) {
    const { code, stderr } = await runProxyCommand({ env });
    t.is(code, 2, stderr);
    t.regex(stderr, message);
    t.is(stderr.trim().split('\n').length, 1, stderr);
    t.false(stderr.includes(keyBody));
  }
});

/** GET https://127.0.0.1:{port}{path} trusting the test CA (and presenting `client`): status and body, or the error's message. */
function httpsGet(port: number, path: string, { client, ca = certs.ca }: TlsClientOptions = {}): Promise<{ status: number; body: string } | string> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: '127.0.0.1', port, path, ca: ca.certPem, cert: client?.certPem, key: client?.keyPem, servername: 'localhost', agent: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', (err) => resolve(err.message));
  });
}

serial('HTTP_TLS=yes: HTTPS on PROXY_PORT with the TLS files: cached reads, MAX_CLIENTS slots, client certificates, SIGHUP reload', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  await redis.client.set('k', 'over https');
  const proxy = await startProxy({
    env: {
      ...backendEnv(redis),
      HTTP_TLS: 'yes',
      TLS_CERT_FILE: certs.server.cert,
      TLS_KEY_FILE: certs.server.key,
      TLS_CA_CERT_FILE: certs.ca.cert,
      TLS_AUTH_CLIENTS: 'optional',
      MAX_CLIENTS: '2',
    },
  });
  t.teardown(() => proxy.stop());
  t.regex(proxy.output(), /listening https=127\.0\.0\.1:\d+ resp=/);
  const port = proxy.httpPort;
  t.deepEqual(await httpsGet(port, '/query?key=k'), { status: 200, body: 'over https' });
  // One connection at a time, each closed after its answer: the slots are given back (MAX_CLIENTS=2).
  const reads = await redis.readsDuring(async () => {
    for (let i = 0; i < 5; i++) t.deepEqual(await httpsGet(port, '/query?key=k', { client: certs.client }), { status: 200, body: 'over https' });
  });
  t.is(reads, 0);
  t.regex(JSON.stringify(await httpsGet(port, '/query?key=k', { client: certs.otherClient })), /socket hang up|ECONNRESET|closed|disconnected/i);
  t.regex(JSON.stringify(await httpsGet(port, '/query?key=k', { ca: certs.otherCa })), /self.signed|unable to verify|local issuer/i);
  // Plain HTTP on the HTTPS port gets no answer.
  t.not(
    await fetch(`http://127.0.0.1:${port}/query?key=k`).then(
      (r) => r.status,
      () => 'failed',
    ),
    200,
  );
  const metrics = await httpsGet(port, '/metrics');
  if (typeof metrics === 'string') return t.fail(metrics);
  t.true(sampleValue(parsePrometheusText(metrics.body), 'redis_cache_proxy_tls_handshake_failures_total') >= 2);

  // SIGHUP: HTTPS serves the renewed certificate.
  const dir = certs.dir;
  const renewed = certs.issue('https-renewed', { serial: 1003, cn: 'https.localhost' });
  const proxy2 = await startProxy({
    env: { ...backendEnv(redis), HTTP_TLS: 'yes', TLS_CERT_FILE: join(dir, 'https.crt'), TLS_KEY_FILE: join(dir, 'https.key'), TLS_AUTH_CLIENTS: 'no' },
  }).catch((e: Error) => e);
  // The files do not exist yet: that is a start error naming the setting.
  t.true(proxy2 instanceof Error);
  copyFileSync(certs.server.cert, join(dir, 'https.crt'));
  copyFileSync(certs.server.key, join(dir, 'https.key'));
  const reloading = await startProxy({
    env: { ...backendEnv(redis), HTTP_TLS: 'yes', TLS_CERT_FILE: join(dir, 'https.crt'), TLS_KEY_FILE: join(dir, 'https.key'), TLS_AUTH_CLIENTS: 'no' },
  });
  t.teardown(() => reloading.stop());
  const servedSerial = () =>
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: reloading.httpPort, ca: certs.ca.certPem, servername: 'localhost' }, () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      });
      socket.once('error', reject);
    });
  t.is(await servedSerial(), '03E9');
  copyFileSync(renewed.cert, join(dir, 'https.crt'));
  copyFileSync(renewed.key, join(dir, 'https.key'));
  reloading.child.kill('SIGHUP');
  const line = await reloading.waitForLog((l) => l.event === 'tls_reloaded', 'the HTTPS reload');
  t.is(line.frontEnd, 'http');
  t.is(await servedSerial(), '03EB');
});
