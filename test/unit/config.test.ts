// Settings: defaults, precedence (file < env < flags), and one-line errors for every bad value.
import test from 'ava';
import { constants } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigFile } from '../../src/config-file.ts';
import { type Config, loadConfig, LOG_LEVELS, SETTINGS } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';
import { makeTestCerts } from '../helpers/tls-certs.ts';

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
  t.is(c.cacheMaxMemory, 256 * 1024 * 1024);
  t.is(c.cacheMaxValueSize, 1024 * 1024);
  t.is(c.maxClients, 10_000);
  t.is(c.maxParallel, 256);
  t.is(c.queryBufferLimit, 64 * 1024 * 1024);
  t.is(c.backendTimeoutMs, 2000);
  t.is(c.workers, 1);
});

test('WORKERS: a count, or auto for one per core this process may use', (t) => {
  t.is(load({ env: { WORKERS: '4' } }).workers, 4);
  t.is(load({ argv: ['--workers', '256'] }).workers, 256);
  t.is(load({ env: { WORKERS: 'auto' } }).workers, Math.min(availableParallelism(), 256));
  t.is(load({ file: 'WORKERS=AUTO\n' }).workers, Math.min(availableParallelism(), 256));
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

const URL_RULE = 'REDIS_URL must be redis://[user:password@]host[:port][/db] or rediss://… for TLS';
const SECONDS_RULE = 'must be a number of seconds from 0.001 to 2147483.647, rounded to whole milliseconds';
const CAPACITY_RULE = "CACHE_CAPACITY must be a positive integer up to 10000000 (each key's slot is preallocated at start)";

const badValues: [key: string, value: string, message: string][] = [
  ['CACHE_CAPACITY', 'ten', `${CAPACITY_RULE}, got "ten"`],
  ['CACHE_CAPACITY', '0', `${CAPACITY_RULE}, got "0"`],
  // lru-cache preallocates every slot: 4M slots took 126 MB at start, 10^9 aborted the process.
  ['CACHE_CAPACITY', '10000001', `${CAPACITY_RULE}, got "10000001"`],
  ['CACHE_CAPACITY', '1000000000', `${CAPACITY_RULE}, got "1000000000"`],
  ['CACHE_EXPIRY', '-1', `CACHE_EXPIRY ${SECONDS_RULE}, got "-1"`],
  ['CACHE_EXPIRY', '0', `CACHE_EXPIRY ${SECONDS_RULE}, got "0"`],
  ['CACHE_EXPIRY', '1m', `CACHE_EXPIRY ${SECONDS_RULE}, got "1m"`],
  // Rounds to 0 ms, which lru-cache reads as "never expires": a changed value was served forever.
  ['CACHE_EXPIRY', '0.0000001', `CACHE_EXPIRY ${SECONDS_RULE}, got "0.0000001"`],
  ['CACHE_EXPIRY', '0.0004', `CACHE_EXPIRY ${SECONDS_RULE}, got "0.0004"`],
  ['CACHE_EXPIRY', '2147483.648', `CACHE_EXPIRY ${SECONDS_RULE}, got "2147483.648"`],
  ['REDIS_PORT', '70000', 'REDIS_PORT must be an integer from 1 to 65535, got "70000"'],
  ['REDIS_HOST', 'bad host', 'REDIS_HOST must be a host name or IP address, got "bad host"'],
  ['REDIS_HOST', 'redis/1', 'REDIS_HOST must be a host name or IP address, got "redis/1"'],
  ['REDIS_HOST', '-redis', 'REDIS_HOST must be a host name or IP address, got "-redis"'],
  ['REDIS_URL', 'http://x', `${URL_RULE}, got "http://x"`],
  ['REDIS_URL', 'redis://h/x', `${URL_RULE}, got "redis://h/x"`],
  // A malformed percent-escape threw out of loadConfig, was logged, and the process exited 0.
  [
    'REDIS_URL',
    'redis://u:%zz@h',
    'REDIS_URL must be a URL whose user and password use valid percent-escapes (% and two hex digits, e.g. %40 for @), got "redis://u:***@h"',
  ],
  [
    'REDIS_URL',
    'redis://%E0%A4%A@h',
    'REDIS_URL must be a URL whose user and password use valid percent-escapes (% and two hex digits, e.g. %40 for @), got "redis://%E0%A4%A@h"',
  ],
  // A user without a password sent no AUTH at all, so the proxy ran as the default user unnoticed.
  [
    'REDIS_URL',
    'redis://bob@h',
    `REDIS_URL must be a URL with a password when it names a user (redis://user:password@host: Redis's AUTH needs one), got "redis://bob@h"`,
  ],
  [
    'REDIS_URL',
    'redis://bob:@h',
    `REDIS_URL must be a URL with a password when it names a user (redis://user:password@host: Redis's AUTH needs one), got "redis://bob:***@h"`,
  ],
  ['REDIS_URL', 'redis://a%20b:6379', 'REDIS_URL must be a URL whose host is a host name or IP address, got "redis://a%20b:6379"'],
  ['REDIS_URL', 'redis://h:0', 'REDIS_URL must be a URL whose port is from 1 to 65535, got "redis://h:0"'],
  ['PROXY_LISTEN', 'any interface', 'PROXY_LISTEN must be a host name or IP address, got "any interface"'],
  ['PROXY_PORT', '5000.5', 'PROXY_PORT must be an integer from 0 to 65535 (0 picks a free port), got "5000.5"'],
  ['RESP_PORT', 'six', 'RESP_PORT must be an integer from 0 to 65535 (0 picks a free port), or off for none, got "six"'],
  ['CACHE_MAX_MEMORY', '0', 'CACHE_MAX_MEMORY must be a positive number of bytes, optionally with kb, mb or gb (e.g. 64mb), got "0"'],
  ['CACHE_MAX_MEMORY', '256 megabytes', 'CACHE_MAX_MEMORY must be a positive number of bytes, optionally with kb, mb or gb (e.g. 64mb), got "256 megabytes"'],
  // The cache holds a value as a string of one char per byte; V8 has none longer than this.
  [
    'CACHE_MAX_VALUE_SIZE',
    '512mb',
    `CACHE_MAX_VALUE_SIZE must be a positive number of bytes up to ${constants.MAX_STRING_LENGTH} (the longest string Node holds), optionally with kb, mb or gb (e.g. 1mb), got "512mb"`,
  ],
  [
    'CACHE_MAX_VALUE_SIZE',
    '-1',
    `CACHE_MAX_VALUE_SIZE must be a positive number of bytes up to ${constants.MAX_STRING_LENGTH} (the longest string Node holds), optionally with kb, mb or gb (e.g. 1mb), got "-1"`,
  ],
  ['MAX_CLIENTS', '-5', 'MAX_CLIENTS must be a positive integer, got "-5"'],
  ['MAX_PARALLEL', '1e3', 'MAX_PARALLEL must be a positive integer, got "1e3"'],
  ['CACHE_INVALIDATION', 'sometimes', 'CACHE_INVALIDATION must be one of tracking, expiry, got "sometimes"'],
  ['MAX_PINNED_CONNECTIONS', '0', 'MAX_PINNED_CONNECTIONS must be a positive integer, got "0"'],
  ['QUERY_BUFFER_LIMIT', '10tb', 'QUERY_BUFFER_LIMIT must be a positive number of bytes, optionally with kb, mb or gb (e.g. 64mb), got "10tb"'],
  ['REDIS_TIMEOUT', 'soon', `REDIS_TIMEOUT ${SECONDS_RULE}, got "soon"`],
  // 3·10^9 ms overflowed Node's timers to 1 ms: "connect timed out after 3000000000 ms" at once.
  ['REDIS_TIMEOUT', '3000000', `REDIS_TIMEOUT ${SECONDS_RULE}, got "3000000"`],
  ['SHUTDOWN_TIMEOUT', '-1', `SHUTDOWN_TIMEOUT ${SECONDS_RULE}, got "-1"`],
  ['WORKERS', '0', 'WORKERS must be a positive integer up to 256, or auto (one per core), got "0"'],
  ['WORKERS', 'abc', 'WORKERS must be a positive integer up to 256, or auto (one per core), got "abc"'],
  ['WORKERS', '257', 'WORKERS must be a positive integer up to 256, or auto (one per core), got "257"'],
  ['LOG_LEVEL', 'bogus', 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "bogus"'],
  ['LOG_LEVEL', 'warning', 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "warning"'],
  ['LOG_FORMAT', 'text', 'LOG_FORMAT must be one of json, pretty, auto, got "text"'],
  ['TLS_PORT', '-1', 'TLS_PORT must be an integer from 0 to 65535 (0: no TLS port), got "-1"'],
  ['HTTP_TLS', 'true', 'HTTP_TLS must be one of yes, no, got "true"'],
  ['TLS_AUTH_CLIENTS', 'required', 'TLS_AUTH_CLIENTS must be one of yes, no, optional, got "required"'],
  ['REDIS_TLS_SERVER_NAME', 'redis internal', 'REDIS_TLS_SERVER_NAME must be a host name or IP address, got "redis internal"'],
  // A password is never shown, not even when it is refused.
  ['PROXY_PASSWORD', 'hunter\u00012', 'PROXY_PASSWORD must be a password without control characters (newline, carriage return, tab, …), got "***"'],
  [
    'PROXY_PASSWORD_FILE',
    '/nonexistent/proxy-password',
    'PROXY_PASSWORD_FILE must be a readable file holding the password (ENOENT), got "/nonexistent/proxy-password"',
  ],
  [
    'REDIS_SENTINELS',
    '10.0.0.1:26379,10.0.0.2',
    'REDIS_SENTINELS must be a comma-separated list of host:port (e.g. 10.0.0.1:26379,10.0.0.2:26379; [::1]:26379 for IPv6), each once, got "10.0.0.1:26379,10.0.0.2"',
  ],
  [
    'REDIS_SENTINEL_MASTER',
    'my master',
    'REDIS_SENTINEL_MASTER must be the master\'s name in sentinel.conf (sentinel monitor <name> …): printable characters, no spaces, got "my master"',
  ],
  [
    'REDIS_SENTINEL_PASSWORD',
    'a\u0001b',
    'REDIS_SENTINEL_PASSWORD must be a password without control characters (newline, carriage return, tab, …), got "***"',
  ],
  ['PROTECTED_MODE', 'off', 'PROTECTED_MODE must be yes or no, got "off"'],
  ['METRICS_AUTH', 'true', 'METRICS_AUTH must be yes or no, got "true"'],
  ['AUTH_TIMEOUT', '0', `AUTH_TIMEOUT ${SECONDS_RULE}, got "0"`],
  [
    'REDIS_CLUSTER_NODES',
    '127.0.0.1:7000,127.0.0.1',
    'REDIS_CLUSTER_NODES must be a comma-separated list of host:port seed nodes of a Redis Cluster (e.g. 10.0.0.1:7000,10.0.0.2:7000), got "127.0.0.1:7000,127.0.0.1"',
  ],
];

/** File settings: any text is a path, so their bad values are files that cannot serve (tests below). */
const FILE_SETTINGS = ['TLS_CERT_FILE', 'TLS_KEY_FILE', 'TLS_CA_CERT_FILE', 'REDIS_TLS_CA_CERT_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE'];

for (const [key, value, message] of badValues) {
  test(`${key}=${value} is refused with one line naming key, value and rule`, (t) => {
    t.is(loadError({ env: { [key]: value } }), `${message} (from environment)`);
    const fromFile = loadError({ file: `${key}=${value}\n` });
    t.true(fromFile.startsWith(message) && fromFile.includes('.config'), fromFile);
    const flag = `--${key.toLowerCase().replaceAll('_', '-')}`;
    t.is(loadError({ argv: [`${flag}=${value}`] }), `${message} (from ${flag})`);
    t.false(fromFile.includes('\n'));
  });
}

test('every setting has a test of a bad value', (t) => {
  const tested = new Set([...badValues.map(([key]) => key), ...FILE_SETTINGS]);
  t.deepEqual(
    SETTINGS.map((s) => s.key).filter((k) => !tested.has(k)),
    [],
  );
});

test('sizes accept kb, mb and gb', (t) => {
  t.is(load({ env: { QUERY_BUFFER_LIMIT: '512kb' } }).queryBufferLimit, 512 * 1024);
  t.is(load({ env: { QUERY_BUFFER_LIMIT: '1GB' } }).queryBufferLimit, 1024 ** 3);
  t.is(load({ env: { QUERY_BUFFER_LIMIT: '1000' } }).queryBufferLimit, 1000);
});

test('unknown flags and unknown .config keys are errors that say what is known', (t) => {
  t.is(loadError({ argv: ['--cache-size', '5'] }), 'unknown option "--cache-size"; run with --help to list the options');
  t.is(loadError({ argv: ['--cache-capacity'] }), 'option --cache-capacity needs a value; run with --help to list the options');
  const message = loadError({ file: 'REDIS_PORT=1\nCACHE_EXPIRE=5\n' });
  t.regex(message, /\.config:2: unknown setting CACHE_EXPIRE; known settings are REDIS_HOST, .*CACHE_EXPIRY/);
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

test('seconds become whole milliseconds from 1 to 2^31 − 1, the range timers and lru-cache take', (t) => {
  t.is(load({ env: { CACHE_EXPIRY: '0.0015' } }).cacheExpiryMs, 2, 'lru-cache needs an integer ttl: 1.5 ms crashed the start');
  t.is(load({ env: { CACHE_EXPIRY: '0.001' } }).cacheExpiryMs, 1);
  t.is(load({ env: { CACHE_EXPIRY: '.25' } }).cacheExpiryMs, 250);
  t.is(load({ env: { CACHE_EXPIRY: '2147483.647' } }).cacheExpiryMs, 2 ** 31 - 1);
  t.is(load({ env: { REDIS_TIMEOUT: '2147483.647' } }).backendTimeoutMs, 2 ** 31 - 1);
  t.is(load({ env: { REDIS_TIMEOUT: '0.0125' } }).backendTimeoutMs, 13);
  for (const key of ['CACHE_EXPIRY', 'REDIS_TIMEOUT'] as const) {
    const ms = key === 'CACHE_EXPIRY' ? 'cacheExpiryMs' : 'backendTimeoutMs';
    for (const value of ['0.0005', '0.001', '1.0004', '60', '86400.5']) t.true(Number.isInteger(load({ env: { [key]: value } })[ms]), `${key}=${value}`);
  }
});

test('CACHE_CAPACITY takes up to 10 000 000 keys', (t) => {
  t.is(load({ env: { CACHE_CAPACITY: '10000000' } }).cacheCapacity, 10_000_000);
});

test('host names may contain underscores, as Docker Compose service names do', (t) => {
  t.is(load({ env: { REDIS_HOST: 'redis_1' } }).backend.host, 'redis_1');
  t.is(load({ env: { REDIS_HOST: 'cache_redis_1.my_net' } }).backend.host, 'cache_redis_1.my_net');
  t.is(load({ env: { REDIS_URL: 'redis://redis_1:6390' } }).backend.host, 'redis_1');
  t.is(load({ env: { PROXY_LISTEN: 'proxy_1' } }).listen, 'proxy_1');
});

test('REDIS_URL: a password alone logs in as the default user; escapes are decoded', (t) => {
  const c = load({ env: { REDIS_URL: 'redis://:p%3Ass@h' } });
  t.is(c.backend.username, undefined);
  t.is(c.backend.password, 'p:ss');
  t.deepEqual(load({ env: { REDIS_URL: 'redis://h' } }).backend, { host: 'h', port: 6379, username: undefined, password: undefined, db: 0, tls: false });
  t.is(load({ env: { REDIS_URL: 'redis://b%C3%B6b:x@h' } }).backend.username, 'böb');
});

test('.config: a line that is not KEY=value is an error naming the file and line', (t) => {
  const cases: [text: string, line: number, message: string][] = [
    ['CACHE_CAPACITY=5\n\nCACHE_EXPIRY 5\n', 3, 'expected KEY=value, got "CACHE_EXPIRY 5"'],
    ['# settings\ngarbage\nCACHE_EXPIRY=5\n', 2, 'expected KEY=value, got "garbage"'],
    ['=5\n', 1, 'expected KEY=value, got "=5"'],
    ['CACHE EXPIRY=5\n', 1, 'expected KEY=value, got "CACHE EXPIRY=5"'],
    ['CACHE_EXPIRY: 5\n', 1, 'expected KEY=value, got "CACHE_EXPIRY: 5"'],
    ['REDIS_HOST="h\nREDIS_PORT=1\n', 1, 'the value of REDIS_HOST opens a " quote that is never closed'],
    ["REDIS_HOST='h' x\n", 1, 'unexpected text after the closing \' of REDIS_HOST: "x"'],
    [`MAX_CLIENTS=1\n${'x'.repeat(200)}\n`, 2, `expected KEY=value, got "${'x'.repeat(80)}…"`],
  ];
  for (const [text, line, message] of cases) {
    const got = loadError({ file: text });
    t.regex(got, /^\/.*\.config:\d+: /, got);
    t.is(got.slice(got.indexOf('.config:') + '.config:'.length), `${line}: ${message}`);
    t.false(got.includes('\n'));
  }
});

test('.config: dotenv syntax — comments, export, quotes, spaces, CRLF, multi-line values', (t) => {
  const c = load({
    file: [
      '\uFEFF# a comment',
      '   # an indented comment',
      'export REDIS_HOST=cache.internal   # where Redis is',
      '  REDIS_PORT = 6390  ',
      'PROXY_LISTEN="0.0.0.0"  # quoted, then a comment',
      "MAX_CLIENTS='12'",
      'MAX_PARALLEL=`7`',
      'CACHE_EXPIRY=1.5#no space before the comment',
      'REDIS_URL=',
      'CACHE_CAPACITY=5\r',
      'CACHE_CAPACITY=6\r',
      '',
    ].join('\n'),
  });
  t.is(c.backend.host, 'cache.internal');
  t.is(c.backend.port, 6390);
  t.is(c.listen, '0.0.0.0');
  t.is(c.maxClients, 12);
  t.is(c.maxParallel, 7);
  t.is(c.cacheExpiryMs, 1500);
  t.is(c.cacheCapacity, 6, 'a key given twice takes its last value');
});

test('.config: quoted values may span lines; double quotes expand \\n, the others keep it', (t) => {
  const entries = parseConfigFile('A="one\ntwo" # c\nB=\'x\\ny\'\nC="x\\ny"\nD=`#not a comment`\nE=\n', 'f');
  t.deepEqual(entries, [
    { key: 'A', value: 'one\ntwo', line: 1 },
    { key: 'B', value: 'x\\ny', line: 3 },
    { key: 'C', value: 'x\ny', line: 4 },
    { key: 'D', value: '#not a comment', line: 5 },
    { key: 'E', value: '', line: 6 },
  ]);
});

test('.config: a value error names the line it came from', (t) => {
  t.regex(loadError({ file: '# x\nCACHE_CAPACITY=ten\n' }), /, got "ten" \(from \/.*\.config:2\)$/);
});

test('CACHE_MAX_MEMORY and CACHE_MAX_VALUE_SIZE take sizes; a value limit above the budget is one error naming both', (t) => {
  const c = load({ env: { CACHE_MAX_MEMORY: '64kb', CACHE_MAX_VALUE_SIZE: '10000' } });
  t.is(c.cacheMaxMemory, 64 * 1024);
  t.is(c.cacheMaxValueSize, 10_000);
  t.is(load({ env: { CACHE_MAX_MEMORY: '1mb' } }).cacheMaxValueSize, 1024 * 1024, 'equal is allowed');
  t.is(
    loadError({ env: { CACHE_MAX_MEMORY: '512kb' } }),
    'CACHE_MAX_VALUE_SIZE must be at most CACHE_MAX_MEMORY (a value larger than the whole cache cannot be cached), got CACHE_MAX_VALUE_SIZE="1mb" (default) and CACHE_MAX_MEMORY="512kb" (from environment)',
  );
  const fromFile = loadError({ file: 'CACHE_MAX_MEMORY=1mb\n', argv: ['--cache-max-value-size', '2mb'] });
  t.regex(
    fromFile,
    /^CACHE_MAX_VALUE_SIZE must be at most CACHE_MAX_MEMORY .*, got CACHE_MAX_VALUE_SIZE="2mb" \(from --cache-max-value-size\) and CACHE_MAX_MEMORY="1mb" \(from \/.*\.config:1\)$/,
  );
});

test('a bad REDIS_URL is reported without its password', (t) => {
  const message = loadError({ env: { REDIS_URL: 'redis://bob:hunter2@redis_host:99999' } });
  t.false(message.includes('hunter2'), message);
  t.regex(message, /redis:\/\/bob:\*\*\*@redis_host:99999/);
});

test('a REDIS_URL whose password holds a / or @ is reported without any of it', (t) => {
  // Not a URL (the / ends the host part): the error line showed it whole.
  const slash = loadError({ env: { REDIS_URL: 'redis://bob:hun/ter2@redis_host' } });
  t.false(slash.includes('ter2') || slash.includes('hun'), slash);
  t.regex(slash, /got "redis:\/\/bob:\*\*\*@redis_host"/);
  // A URL (its password is hunter@2) refused for its port: the error showed "2".
  const at = loadError({ env: { REDIS_URL: 'redis://bob:hunter@2@redis_host:99999' } });
  t.regex(at, /got "redis:\/\/bob:\*\*\*@redis_host:99999"/);
});

test("LOG_LEVEL takes pino's levels in any case (default info); LOG_FORMAT json, pretty or auto (default auto)", (t) => {
  const defaults = load();
  t.is(defaults.logLevel, 'info');
  t.is(defaults.logFormat, 'auto');
  for (const level of LOG_LEVELS) t.is(load({ env: { LOG_LEVEL: level } }).logLevel, level);
  t.is(load({ env: { LOG_LEVEL: 'WARN' } }).logLevel, 'warn');
  t.is(load({ file: 'LOG_FORMAT=JSON\n' }).logFormat, 'json');
  t.is(load({ argv: ['--log-format', 'pretty'] }).logFormat, 'pretty');
});

test('the effective settings list every setting with its value as given and where it came from; REDIS_URL masked', (t) => {
  const result = loadConfig({
    cwd: dirWith('CACHE_EXPIRY=5\n'),
    env: { REDIS_URL: 'redis://bob:hunter@2@cache:6390/1', LOG_LEVEL: ' debug ' },
    argv: ['--max-clients', '7'],
  });
  if (result.kind !== 'config') return t.fail('expected a config');
  t.deepEqual(
    Object.keys(result.settings),
    SETTINGS.map((s) => s.key),
  );
  t.regex(result.settings.CACHE_EXPIRY!.from, /\.config:1$/);
  t.like(result.settings, {
    CACHE_EXPIRY: { value: '5' },
    REDIS_URL: { value: 'redis://bob:***@cache:6390/1', from: 'environment' },
    LOG_LEVEL: { value: 'debug', from: 'environment' },
    MAX_CLIENTS: { value: '7', from: '--max-clients' },
    CACHE_CAPACITY: { value: '10000', from: 'default' },
  });
  t.false(JSON.stringify(result.settings).includes('hunter'));
  const unset = loadConfig({ cwd: dirWith(), env: {} });
  if (unset.kind !== 'config') return t.fail('expected a config');
  t.deepEqual(unset.settings.REDIS_URL, { value: null, from: 'default' });
});

test('the shipped .config and the README table list every setting, .config with its default', (t) => {
  const root = new URL('../../', import.meta.url);
  const shipped = parseConfigFile(readFileSync(new URL('.config', root), 'utf8'), '.config');
  t.deepEqual(
    shipped.map(({ key, value }) => [key, value]),
    SETTINGS.map((s) => [s.key, s.default ?? '']),
  );
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  for (const s of SETTINGS) {
    const flag = `--${s.key.toLowerCase().replaceAll('_', '-')}`;
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${s.key}\` | \`${flag}\` |`));
    t.truthy(row, `README has no row for ${s.key}`);
    t.true(row!.includes(s.default === undefined ? '| — |' : `| \`${s.default}\` |`), row);
  }
});

test('TLS_PORT with its files: the listener settings, Redis defaults (auth-clients yes), and the checks Redis makes', (t) => {
  const certs = makeTestCerts();
  t.teardown(() => certs.remove());
  t.is(load().tls, undefined);
  const files = { TLS_CERT_FILE: certs.server.cert, TLS_KEY_FILE: certs.server.key };
  const c = load({ env: { TLS_PORT: '6381', ...files, TLS_CA_CERT_FILE: certs.ca.cert } });
  t.deepEqual(c.tls, {
    port: 6381,
    authClients: 'yes',
    files: {
      cert: { key: 'TLS_CERT_FILE', file: certs.server.cert },
      key: { key: 'TLS_KEY_FILE', file: certs.server.key },
      ca: { key: 'TLS_CA_CERT_FILE', file: certs.ca.cert },
    },
  });
  t.true(Object.isFrozen(c.tls));
  t.is(load({ env: { TLS_PORT: '6381', ...files, TLS_AUTH_CLIENTS: 'NO' } }).tls?.authClients, 'no');
  t.is(
    loadError({ env: { TLS_PORT: '6381', ...files } }),
    'TLS_AUTH_CLIENTS=yes needs TLS_CA_CERT_FILE (the CA client certificates must chain to); set TLS_AUTH_CLIENTS=no to serve clients without certificates',
  );
  t.regex(loadError({ env: { TLS_PORT: '6381', ...files, TLS_AUTH_CLIENTS: 'optional' } }), /^TLS_AUTH_CLIENTS=optional needs TLS_CA_CERT_FILE/);
  t.is(
    loadError({ env: { TLS_PORT: '6381', TLS_KEY_FILE: certs.server.key } }),
    'TLS_PORT=6381 needs TLS_CERT_FILE and TLS_KEY_FILE (the certificate the port presents, and its key)',
  );
  t.is(loadError({ env: files }), 'TLS_CERT_FILE is set (from environment) but TLS_PORT is not: set TLS_PORT (or HTTP_TLS=yes) to serve clients over TLS');
  t.is(loadError({ env: { TLS_PORT: '6380', ...files, TLS_AUTH_CLIENTS: 'no' } }), 'TLS_PORT must differ from RESP_PORT and PROXY_PORT, got 6380 for both');
  // HTTP_TLS=yes alone: HTTPS with the same files and rule, no TLS Redis-protocol port.
  const https = load({ env: { HTTP_TLS: 'yes', ...files, TLS_AUTH_CLIENTS: 'no' } });
  t.is(https.tls, undefined);
  t.deepEqual(https.httpTls, {
    authClients: 'no',
    files: { cert: { key: 'TLS_CERT_FILE', file: certs.server.cert }, key: { key: 'TLS_KEY_FILE', file: certs.server.key }, ca: undefined },
  });
  t.is(load({ env: { TLS_PORT: '6381', ...files, TLS_AUTH_CLIENTS: 'no' } }).httpTls, undefined);
  t.is(
    loadError({ env: { HTTP_TLS: 'yes', TLS_KEY_FILE: certs.server.key } }),
    'HTTP_TLS=yes needs TLS_CERT_FILE and TLS_KEY_FILE (the certificate the port presents, and its key)',
  );
  // RESP_PORT=off: TLS clients only; not without a TLS port.
  t.is(load({ env: { RESP_PORT: 'off', TLS_PORT: '6381', ...files, TLS_AUTH_CLIENTS: 'no' } }).respPort, null);
  t.is(loadError({ env: { RESP_PORT: 'OFF' } }), 'RESP_PORT=off needs TLS_PORT: without either the proxy has no Redis-protocol port');
  // The flag names follow the keys.
  t.is(
    load({ argv: ['--tls-port=7000', `--tls-cert-file=${certs.server.cert}`, `--tls-key-file=${certs.server.key}`, '--tls-auth-clients=no'] }).tls?.port,
    7000,
  );
});

test('TLS files that cannot serve are refused at start, by setting and file, never by content', (t) => {
  const certs = makeTestCerts();
  t.teardown(() => certs.remove());
  const base = { TLS_PORT: '6381', TLS_AUTH_CLIENTS: 'no' };
  const missing = join(certs.dir, 'nope.pem');
  t.is(loadError({ env: { ...base, TLS_CERT_FILE: missing, TLS_KEY_FILE: certs.server.key } }), `TLS_CERT_FILE=${missing} cannot be read (ENOENT)`);
  t.is(
    loadError({ env: { ...base, TLS_CERT_FILE: certs.server.cert, TLS_KEY_FILE: certs.server.cert } }),
    `TLS_KEY_FILE=${certs.server.cert} holds no private key (no PEM "-----BEGIN …PRIVATE KEY-----" line)`,
  );
  const mismatch = loadError({ env: { ...base, TLS_CERT_FILE: certs.server.cert, TLS_KEY_FILE: certs.client.key } });
  t.is(mismatch, `TLS_CERT_FILE=${certs.server.cert}, TLS_KEY_FILE=${certs.client.key} cannot be used: key values mismatch`);
  // An encrypted key fails instead of prompting for a passphrase on a terminal.
  const encrypted = join(certs.dir, 'encrypted.key');
  writeFileSync(encrypted, execFileSync('openssl', ['pkey', '-in', certs.server.key, '-aes256', '-passout', 'pass:hunter2']));
  const enc = loadError({ env: { ...base, TLS_CERT_FILE: certs.server.cert, TLS_KEY_FILE: encrypted } });
  t.regex(enc, /^TLS_CERT_FILE=.*, TLS_KEY_FILE=.*encrypted\.key cannot be used: /);
  const keyLines = readFileSync(certs.server.key, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'));
  for (const message of [mismatch, enc]) for (const line of keyLines) t.false(message.includes(line));
});

test('REDIS_TLS_*: only with rediss://, a certificate only with its key, files checked at start', (t) => {
  const certs = makeTestCerts();
  t.teardown(() => certs.remove());
  const url = 'rediss://redis.internal:6390';
  t.deepEqual(load({ env: { REDIS_URL: url } }).backend, { host: 'redis.internal', port: 6390, username: undefined, password: undefined, db: 0, tls: true });
  const c = load({
    env: {
      REDIS_URL: url,
      REDIS_TLS_CA_CERT_FILE: certs.ca.cert,
      REDIS_TLS_CERT_FILE: certs.client.cert,
      REDIS_TLS_KEY_FILE: certs.client.key,
      REDIS_TLS_SERVER_NAME: 'localhost',
    },
  });
  t.deepEqual(c.backend.tlsFiles, {
    ca: { key: 'REDIS_TLS_CA_CERT_FILE', file: certs.ca.cert },
    cert: { key: 'REDIS_TLS_CERT_FILE', file: certs.client.cert },
    key: { key: 'REDIS_TLS_KEY_FILE', file: certs.client.key },
  });
  t.is(c.backend.tlsServerName, 'localhost');
  t.is(load({ env: { REDIS_URL: url, REDIS_TLS_SERVER_NAME: 'localhost' } }).backend.tlsFiles, undefined);
  t.is(
    loadError({ env: { REDIS_HOST: 'h', REDIS_TLS_CA_CERT_FILE: certs.ca.cert } }),
    'REDIS_TLS_CA_CERT_FILE is set (from environment) but the backend is not TLS: set REDIS_URL=rediss://host:port to use it',
  );
  t.regex(
    loadError({ env: { REDIS_URL: 'redis://h', REDIS_TLS_SERVER_NAME: 'x' } }),
    /^REDIS_TLS_SERVER_NAME is set \(from environment\) but the backend is not TLS/,
  );
  t.is(
    loadError({ env: { REDIS_URL: url, REDIS_TLS_KEY_FILE: certs.client.key } }),
    'REDIS_TLS_KEY_FILE needs REDIS_TLS_CERT_FILE too (a client certificate and its key)',
  );
  t.is(
    loadError({ env: { REDIS_URL: url, REDIS_TLS_CA_CERT_FILE: certs.client.key } }),
    `REDIS_TLS_CA_CERT_FILE=${certs.client.key} holds no certificate (no PEM "-----BEGIN …CERTIFICATE-----" line)`,
  );
});

test('PROXY_PASSWORD: none by default; taken as given; never shown in the effective settings or in an error', (t) => {
  const none = load();
  t.is(none.password, undefined);
  t.true(none.protectedMode);
  t.true(none.metricsAuth);
  t.is(none.authTimeoutMs, 10_000);
  t.is(load({ env: { PROXY_PASSWORD: 'p@ss w:rd' } }).password, 'p@ss w:rd');
  t.is(load({ file: "PROXY_PASSWORD='quoted # not a comment'\n" }).password, 'quoted # not a comment');
  const result = loadConfig({ cwd: dirWith(), env: { PROXY_PASSWORD: 'hunter2' }, argv: [] });
  if (result.kind !== 'config') return t.fail('expected a config');
  t.deepEqual(result.settings.PROXY_PASSWORD, { value: '***', from: 'environment' });
  t.false(JSON.stringify(result.settings).includes('hunter2'));
  const spaced = loadError({ env: { PROXY_PASSWORD: ' hunter2' } });
  t.is(spaced, 'PROXY_PASSWORD must be a password that does not begin or end with a space, got "***" (from environment)');
  // A .config line that is not KEY=value is shown in the error, unless it may hold a password.
  const garbled = loadError({ file: 'PROXY_PASSWORD hunter2\n' });
  t.regex(garbled, /\.config:1: expected KEY=value, got \(not shown: it may hold a password\)$/);
  t.false(garbled.includes('hunter2'));
  const trailing = loadError({ file: 'PROXY_PASSWORD="hunter2"hunter3\n' });
  t.false(trailing.includes('hunter'), trailing);
});

test("PROXY_PASSWORD_FILE: the file's contents without one trailing newline; both set, unreadable or empty is one line naming the key", (t) => {
  const dir = dirWith();
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  t.is(load({ env: { PROXY_PASSWORD_FILE: file('lf', 'hunter2\n') } }).password, 'hunter2');
  t.is(load({ env: { PROXY_PASSWORD_FILE: file('crlf', 'hunter2\r\n') } }).password, 'hunter2');
  t.is(load({ env: { PROXY_PASSWORD_FILE: file('bare', 'hunter2') } }).password, 'hunter2');
  // Relative to the working directory, like --config.
  const relative = loadConfig({ cwd: dir, env: { PROXY_PASSWORD_FILE: 'bare' }, argv: [] });
  t.is(relative.kind === 'config' ? relative.config.password : undefined, 'hunter2');
  const twoLines = loadError({ env: { PROXY_PASSWORD_FILE: file('two', 'hunter2\n\n') } });
  t.is(
    twoLines,
    `PROXY_PASSWORD_FILE must be a file holding a password without control characters (newline, carriage return, tab, …), got ${JSON.stringify(join(dir, 'two'))} (from environment)`,
  );
  const empty = loadError({ env: { PROXY_PASSWORD_FILE: file('empty', '\n') } });
  t.is(empty, `PROXY_PASSWORD_FILE must be a file holding the password (it is empty), got ${JSON.stringify(join(dir, 'empty'))} (from environment)`);
  t.is(
    loadError({ env: { PROXY_PASSWORD_FILE: dir } }),
    `PROXY_PASSWORD_FILE must be a readable file holding the password (EISDIR), got ${JSON.stringify(dir)} (from environment)`,
  );
  const both = loadError({ env: { PROXY_PASSWORD: 'hunter2' }, argv: ['--proxy-password-file', file('both', 'hunter3\n')] });
  t.is(both, 'PROXY_PASSWORD and PROXY_PASSWORD_FILE are both set (from environment and --proxy-password-file); set only one of them');
  for (const message of [twoLines, empty, both]) t.false(message.includes('hunter'), message);
});

test('PROTECTED_MODE and METRICS_AUTH take yes or no in any case; AUTH_TIMEOUT takes seconds', (t) => {
  const config = load({ env: { PROTECTED_MODE: 'NO', METRICS_AUTH: 'no', AUTH_TIMEOUT: '0.5' } });
  t.false(config.protectedMode);
  t.false(config.metricsAuth);
  t.is(config.authTimeoutMs, 500);
});

test('Sentinel: REDIS_SENTINELS and REDIS_SENTINEL_MASTER together; REDIS_URL gives the login, database and TLS; REDIS_HOST and REDIS_PORT are refused', (t) => {
  t.is(load().sentinel, undefined);
  const c = load({
    env: {
      REDIS_SENTINELS: ' 10.0.0.1:26379, sentinel-2:26380 ,[::1]:26381',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_SENTINEL_PASSWORD: 's3cret',
      REDIS_URL: 'rediss://:pw@mymaster/3',
    },
  });
  t.deepEqual(c.sentinel, {
    masterName: 'mymaster',
    sentinels: [
      { host: '10.0.0.1', port: 26379 },
      { host: 'sentinel-2', port: 26380 },
      { host: '::1', port: 26381 },
    ],
    password: 's3cret',
  });
  t.true(Object.isFrozen(c.sentinel));
  t.like(c.backend, { password: 'pw', db: 3, tls: true });

  t.is(
    loadError({ env: { REDIS_SENTINELS: '10.0.0.1:26379' } }),
    "REDIS_SENTINELS is set (from environment) but REDIS_SENTINEL_MASTER is not: Sentinel needs both (the sentinels to ask, and the master's name)",
  );
  t.is(
    loadError({ file: 'REDIS_SENTINEL_MASTER=mymaster\n' }).replace(/\(from .*\.config:1\)/, '(from .config)'),
    "REDIS_SENTINEL_MASTER is set (from .config) but REDIS_SENTINELS is not: Sentinel needs both (the sentinels to ask, and the master's name)",
  );
  t.is(loadError({ env: { REDIS_SENTINEL_PASSWORD: 'x' } }), 'REDIS_SENTINEL_PASSWORD is set (from environment) but REDIS_SENTINELS is not');
  const both = { REDIS_SENTINELS: '10.0.0.1:26379', REDIS_SENTINEL_MASTER: 'mymaster' };
  t.regex(
    loadError({ env: { ...both, REDIS_HOST: '10.0.0.9' } }),
    /^REDIS_HOST is set \(from environment\) but REDIS_SENTINELS says where the master is: remove REDIS_HOST/,
  );
  t.regex(loadError({ env: both, argv: ['--redis-port', '7000'] }), /^REDIS_PORT is set \(from --redis-port\)/);
  t.is(
    loadError({ env: { ...both, REDIS_CLUSTER_NODES: '10.0.0.2:7000' } }),
    'REDIS_SENTINELS is set (from environment) and so is REDIS_CLUSTER_NODES (from environment): a Redis Cluster fails over by itself; set one of them',
  );
  // The shipped .config lists the defaults: they say nothing, and are no reason to refuse.
  t.is(load({ file: 'REDIS_HOST=127.0.0.1\nREDIS_PORT=6379\n', env: both }).sentinel?.masterName, 'mymaster');
  for (const bad of ['', '10.0.0.1:0', '10.0.0.1:65536', 'a b:1', '10.0.0.1:26379,10.0.0.1:26379', ':26379', '10.0.0.1:26379,']) {
    t.regex(loadError({ env: { ...both, REDIS_SENTINELS: bad === '' ? ',' : bad } }), /^REDIS_SENTINELS must be/, bad);
  }
});
