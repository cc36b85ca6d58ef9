// Settings: defaults, precedence (file < env < flags), and one-line errors for every bad value.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, SETTINGS, type Config } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';

function dirWith(configText?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rcp-config-'));
  if (configText !== undefined) writeFileSync(join(dir, '.config'), configText);
  return dir;
}

function load(opts: { file?: string; env?: Record<string, string>; argv?: string[] } = {}): Config {
  const result = loadConfig({ cwd: dirWith(opts.file), env: opts.env ?? {}, argv: opts.argv ?? [] });
  if (result.kind !== 'config') throw new Error('expected a config');
  return result.config;
}

function loadError(opts: Parameters<typeof load>[0]): string {
  try {
    load(opts);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

test('defaults match the DESIGN table', (t) => {
  const c = load();
  t.deepEqual(c.backend, { host: '127.0.0.1', port: 6379, username: undefined, password: undefined, db: 0, tls: false });
  t.is(c.listen, '127.0.0.1');
  t.is(c.httpPort, 5000);
  t.is(c.respPort, 6380);
  t.is(c.cacheExpiryMs, 60_000);
  t.is(c.cacheCapacity, 10_000);
  t.is(c.maxClients, 10_000);
  t.is(c.maxParallel, 256);
  t.is(c.queryBufferLimit, 64 * 1024 * 1024);
  t.is(c.backendTimeoutMs, 2000);
});

test('the config is frozen', (t) => {
  const c = load();
  t.true(Object.isFrozen(c));
  t.true(Object.isFrozen(c.backend));
});

test('.config is read; environment overrides it; flags override both', (t) => {
  const file = 'CACHE_CAPACITY=5\nCACHE_EXPIRY=1.5\nREDIS_PORT=7000\n';
  t.is(load({ file }).cacheCapacity, 5);
  t.is(load({ file }).cacheExpiryMs, 1500);
  t.is(load({ file, env: { CACHE_CAPACITY: '6' } }).cacheCapacity, 6);
  t.is(load({ file, env: { CACHE_CAPACITY: '6' }, argv: ['--cache-capacity', '7'] }).cacheCapacity, 7);
  t.is(load({ file, argv: ['--redis-port=7001'] }).backend.port, 7001);
});

test('--config reads another file, and a missing one is an error', (t) => {
  const dir = dirWith();
  writeFileSync(join(dir, 'other.env'), 'MAX_PARALLEL=3\n');
  const result = loadConfig({ cwd: dir, env: {}, argv: ['--config', 'other.env'] });
  t.is(result.kind === 'config' && result.config.maxParallel, 3);
  t.is(loadError({ argv: ['--config', 'nope.env'] }), '--config nope.env: no such file');
});

test('an empty value means "not set"', (t) => {
  t.is(load({ file: 'REDIS_URL=\nCACHE_CAPACITY=\n' }).cacheCapacity, 10_000);
  t.is(load({ env: { CACHE_EXPIRY: '' } }).cacheExpiryMs, 60_000);
});

test('REDIS_URL wins over host and port and carries user, password, db and TLS', (t) => {
  const c = load({ env: { REDIS_HOST: 'ignored', REDIS_URL: 'rediss://bob:s%40cret@cache.internal:6390/3' } });
  t.deepEqual(c.backend, { host: 'cache.internal', port: 6390, username: 'bob', password: 's@cret', db: 3, tls: true });
  t.is(load({ env: { REDIS_URL: 'redis://[::1]' } }).backend.host, '::1');
});

const badValues: [key: string, value: string, message: string][] = [
  ['CACHE_CAPACITY', 'ten', 'CACHE_CAPACITY must be a positive integer up to 1000000000, got "ten"'],
  ['CACHE_CAPACITY', '0', 'CACHE_CAPACITY must be a positive integer up to 1000000000, got "0"'],
  ['CACHE_EXPIRY', '-1', 'CACHE_EXPIRY must be a positive number of seconds (decimals allowed), got "-1"'],
  ['CACHE_EXPIRY', '0', 'CACHE_EXPIRY must be a positive number of seconds (decimals allowed), got "0"'],
  ['CACHE_EXPIRY', '1m', 'CACHE_EXPIRY must be a positive number of seconds (decimals allowed), got "1m"'],
  ['REDIS_PORT', '70000', 'REDIS_PORT must be an integer from 1 to 65535, got "70000"'],
  ['REDIS_HOST', 'bad host', 'REDIS_HOST must be a host name or IP address, got "bad host"'],
  ['REDIS_URL', 'http://x', 'REDIS_URL must be redis://[user:password@]host[:port][/db] or rediss://… for TLS, got "http://x"'],
  ['REDIS_URL', 'redis://h/x', 'REDIS_URL must be redis://[user:password@]host[:port][/db] or rediss://… for TLS, got "redis://h/x"'],
  ['PROXY_LISTEN', 'any interface', 'PROXY_LISTEN must be a host name or IP address, got "any interface"'],
  ['PROXY_PORT', '5000.5', 'PROXY_PORT must be an integer from 0 to 65535 (0 picks a free port), got "5000.5"'],
  ['RESP_PORT', 'six', 'RESP_PORT must be an integer from 0 to 65535 (0 picks a free port), got "six"'],
  ['MAX_CLIENTS', '-5', 'MAX_CLIENTS must be a positive integer, got "-5"'],
  ['MAX_PARALLEL', '1e3', 'MAX_PARALLEL must be a positive integer, got "1e3"'],
  ['QUERY_BUFFER_LIMIT', '10tb', 'QUERY_BUFFER_LIMIT must be a positive number of bytes, optionally with kb, mb or gb (e.g. 64mb), got "10tb"'],
  ['REDIS_TIMEOUT', 'soon', 'REDIS_TIMEOUT must be a positive number of seconds (decimals allowed), got "soon"'],
  ['SHUTDOWN_TIMEOUT', '-1', 'SHUTDOWN_TIMEOUT must be a positive number of seconds (decimals allowed), got "-1"'],
];

for (const [key, value, message] of badValues) {
  test(`${key}=${JSON.stringify(value)} is refused with one line naming key, value and rule`, (t) => {
    t.is(loadError({ env: { [key]: value } }), `${message} (from environment)`);
    const fromFile = loadError({ file: `${key}=${value}\n` });
    t.true(fromFile.startsWith(message) && fromFile.includes('.config'), fromFile);
    const flag = `--${key.toLowerCase().replaceAll('_', '-')}`;
    t.is(loadError({ argv: [`${flag}=${value}`] }), `${message} (from ${flag})`);
    t.false(fromFile.includes('\n'));
  });
}

test('every setting has a test of a bad value', (t) => {
  const tested = new Set(badValues.map(([key]) => key));
  t.deepEqual(SETTINGS.map((s) => s.key).filter((k) => !tested.has(k)), []);
});

test('sizes accept kb, mb and gb', (t) => {
  t.is(load({ env: { QUERY_BUFFER_LIMIT: '512kb' } }).queryBufferLimit, 512 * 1024);
  t.is(load({ env: { QUERY_BUFFER_LIMIT: '1GB' } }).queryBufferLimit, 1024 ** 3);
  t.is(load({ env: { QUERY_BUFFER_LIMIT: '1000' } }).queryBufferLimit, 1000);
});

test('unknown flags and unknown .config keys are errors that say what is known', (t) => {
  t.is(loadError({ argv: ['--cache-size', '5'] }), 'unknown option "--cache-size"; run with --help to list the options');
  t.is(loadError({ argv: ['--cache-capacity'] }), 'option --cache-capacity needs a value; run with --help to list the options');
  const message = loadError({ file: 'CACHE_EXPIRE=5\n' });
  t.regex(message, /\.config: unknown setting CACHE_EXPIRE; known settings are REDIS_HOST, .*CACHE_EXPIRY/);
});

test('--help lists every flag with its default', (t) => {
  const result = loadConfig({ cwd: dirWith(), env: {}, argv: ['--help'] });
  if (result.kind !== 'help') return t.fail('expected help');
  for (const s of SETTINGS) {
    const line = result.text.split('\n').find((l) => l.includes(`--${s.key.toLowerCase().replaceAll('_', '-')} `));
    t.truthy(line, s.key);
    if (s.default !== undefined) t.true(line!.includes(`(default ${s.default})`), line);
  }
});
