// Owns the settings: their types, defaults and units, and loading them once from .config, environment and flags.
import { constants } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { parseConfigFile } from './config-file.ts';
import { hostPort } from './address.ts';
import { ConfigError } from './errors.ts';
import { maskPassword } from './mask.ts';
import { loadSecureContext, TlsFilesError, type TlsFiles } from './tls-files.ts';

/** Where the backing Redis is and how to log in to it. */
export interface BackendTarget {
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Database number selected on the backend connection; default 0. */
  readonly db: number;
  readonly tls: boolean;
  /** With rediss://: CA, client certificate and key from REDIS_TLS_*_FILE; absent when none is set (system CAs, no client certificate). */
  readonly tlsFiles?: TlsFiles;
  /** With rediss://: the name the server's certificate must carry (REDIS_TLS_SERVER_NAME), instead of the host's. */
  readonly tlsServerName?: string;
}

/** Redis Sentinel: the sentinels that say where the master named `masterName` is (REDIS_SENTINELS, REDIS_SENTINEL_*). */
export interface SentinelConfig {
  readonly masterName: string;
  /** Asked in this order (the last one that answered first). */
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  /** The sentinels' own requirepass (REDIS_SENTINEL_PASSWORD); undefined: none. */
  readonly password: string | undefined;
}

/** Redis's tls-auth-clients: client certificates required, not asked for, or checked only when one is presented. */
export const TLS_AUTH_CLIENTS = ['yes', 'no', 'optional'] as const;
export type TlsAuthClients = (typeof TLS_AUTH_CLIENTS)[number];

/** A TLS listener's certificate, key and CA files, and whether it asks clients for certificates. */
export interface TlsServerConfig {
  /** TLS_CERT_FILE, TLS_KEY_FILE and, for client certificates, TLS_CA_CERT_FILE. */
  readonly files: TlsFiles;
  readonly authClients: TlsAuthClients;
}

/** The TLS Redis-protocol listener (TLS_PORT and its files). */
export interface TlsListenerConfig extends TlsServerConfig {
  readonly port: number;
}

export interface Config {
  /** Backing Redis, from REDIS_URL when set, else REDIS_HOST and REDIS_PORT. With `sentinel`, only its login, database and TLS apply. */
  readonly backend: BackendTarget;
  /** Redis Sentinel finds the backend (REDIS_SENTINELS and REDIS_SENTINEL_MASTER); undefined: `backend`'s host and port. */
  readonly sentinel: SentinelConfig | undefined;
  /** REDIS_CLUSTER_NODES: a Redis Cluster's seed nodes (`host:port`); `backend` then gives only the login and TLS. Undefined: one Redis. */
  readonly clusterNodes: readonly string[] | undefined;
  /** Address both listeners bind. Default 127.0.0.1. */
  readonly listen: string;
  /** HTTP port; 0 picks a free one. Default 5000. */
  readonly httpPort: number;
  /** HTTPS instead of HTTP on PROXY_PORT (HTTP_TLS=yes), with the TLS port's files and client certificate rule; undefined: plain HTTP. */
  readonly httpTls: TlsServerConfig | undefined;
  /** Redis-protocol port; 0 picks a free one; null (RESP_PORT=off) for none, with TLS_PORT serving instead. Default 6380. */
  readonly respPort: number | null;
  /** TLS Redis-protocol listener, or undefined when TLS_PORT is 0 (the default): off, as in Redis. */
  readonly tls: TlsListenerConfig | undefined;
  /** Milliseconds an entry may be served after it was fetched. Default 60 000 (CACHE_EXPIRY=60). */
  readonly cacheExpiryMs: number;
  /** Keys kept; the least recently read is evicted first. Default 10 000. */
  readonly cacheCapacity: number;
  /** Bytes the cached entries may hold (keys, values and a fixed overhead each). Default 256 MiB. */
  readonly cacheMaxMemory: number;
  /** Bytes of the largest value cached; a larger one is answered but not cached. Default 1 MiB. */
  readonly cacheMaxValueSize: number;
  /** Connections served at once, per front end (RESP and HTTP each). Default 10 000. */
  readonly maxClients: number;
  /** Backend requests in flight at once. Default 256. */
  readonly maxParallel: number;
  /**
   * Backend connections of clients' own (MULTI/WATCH sessions, blocking commands, Pub/Sub, MONITOR),
   * in use or kept idle for their client. Default 1000.
   */
  readonly maxPinnedConnections: number;
  /** Bytes one unfinished RESP request may hold before it is refused. Default 64 MiB. */
  readonly queryBufferLimit: number;
  /** Milliseconds a backend read may take, counted from when it was queued, before it fails. Default 2 000 (REDIS_TIMEOUT=2). */
  readonly backendTimeoutMs: number;
  /** Milliseconds shutdown waits for requests already received to be answered. Default 10 000 (SHUTDOWN_TIMEOUT=10). */
  readonly shutdownTimeoutMs: number;
  /** Proxy processes sharing the ports, each with its own cache; WORKERS=auto is one per core. Default 1 (one process, no primary). */
  readonly workers: number;
  /**
   * How the cache learns of writes made by others: `tracking` (Redis's CLIENT TRACKING invalidations,
   * with CACHE_EXPIRY as a safety net) or `expiry` (CACHE_EXPIRY alone). Default tracking.
   */
  readonly cacheInvalidation: 'tracking' | 'expiry';
  /** Least severe level logged (pino's names). Default info. */
  readonly logLevel: LogLevel;
  /** Log lines as JSON, pretty for a person, or auto: pretty when stderr is a terminal, else JSON. Default auto. */
  readonly logFormat: LogFormat;
  /**
   * The password clients must give (AUTH, HELLO … AUTH, HTTP Bearer or Basic), from PROXY_PASSWORD or the
   * file PROXY_PASSWORD_FILE names; undefined: none (Redis's default user without requirepass). Default none.
   */
  readonly password: string | undefined;
  /** Without a password, refuse clients from addresses other than loopback (Redis's protected-mode). Default true. */
  readonly protectedMode: boolean;
  /** With a password, /metrics asks for it too (METRICS_AUTH). Default true. */
  readonly metricsAuth: boolean;
  /** Milliseconds a connection may stay open without authenticating, when a password is set. Default 10 000 (AUTH_TIMEOUT=10). */
  readonly authTimeoutMs: number;
}

/** pino's levels, most severe first; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty', 'auto'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Each setting's value as given (REDIS_URL's password masked), or null when unset, and where it came from. */
export type EffectiveSettings = Readonly<Record<string, { readonly value: string | null; readonly from: string }>>;

type Parsed = { ok: true; value: unknown } | { ok: false; allowed: string };

interface Setting {
  readonly key: string;
  /** A password: never shown (effective settings, errors), and taken as given, spaces included. */
  readonly secret?: true;
  readonly default: string | undefined;
  readonly unit: string;
  readonly help: string;
  readonly parse: (raw: string) => Parsed;
}

const ok = (value: unknown): Parsed => ({ ok: true, value });
const bad = (allowed: string): Parsed => ({ ok: false, allowed });

function integerIn(min: number, max: number, allowed: string) {
  return (raw: string): Parsed => {
    if (!/^\d+$/.test(raw)) return bad(allowed);
    const n = Number(raw);
    return n >= min && n <= max ? ok(n) : bad(allowed);
  };
}

/**
 * The longest wait Node's timers take: a longer one fires after 1 ms (with a warning). lru-cache's ttl
 * needs a positive integer too, and reads a ttl of 0 as "never expires".
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Seconds, decimals allowed, to whole milliseconds in [1, 2^31 − 1]: what timers and lru-cache can do. */
function seconds(raw: string): Parsed {
  const allowed = `a number of seconds from 0.001 to ${MAX_TIMER_MS / 1000}, rounded to whole milliseconds`;
  if (!/^(\d+\.?\d*|\.\d+)$/.test(raw)) return bad(allowed);
  const ms = Math.round(Number(raw) * 1000);
  return ms >= 1 && ms <= MAX_TIMER_MS ? ok(ms) : bad(allowed);
}

/** Bytes, with an optional kb, mb or gb (powers of 1024, as Redis reads them), from 1 to `max`. */
function bytesUpTo(max: number, allowed: string) {
  return (raw: string): Parsed => {
    const m = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(raw);
    if (!m) return bad(allowed);
    const scale = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
    const n = Number(m[1]) * scale;
    return n > 0 && n <= max && Number.isSafeInteger(n) ? ok(n) : bad(allowed);
  };
}

const byteSize = bytesUpTo(Number.MAX_SAFE_INTEGER, 'a positive number of bytes, optionally with kb, mb or gb (e.g. 64mb)');

// The cache keeps a value as a string of one char per byte: a longer one cannot be held at all.
const valueSize = bytesUpTo(
  constants.MAX_STRING_LENGTH,
  `a positive number of bytes up to ${constants.MAX_STRING_LENGTH} (the longest string Node holds), optionally with kb, mb or gb (e.g. 1mb)`,
);

// Underscores are allowed: resolvers accept them and Docker Compose names services with them
// (`redis_1`); RFC 952's letters-digits-hyphens rule is not what a lookup enforces.
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

const isHost = (raw: string): boolean => isIP(raw) !== 0 || HOST_NAME.test(raw);

function hostName(raw: string): Parsed {
  return isHost(raw) ? ok(raw) : bad('a host name or IP address');
}

/** REDIS_CLUSTER_NODES: host:port seed nodes, comma-separated (an IPv6 host in brackets), as `host:port` strings. */
function clusterNodes(raw: string): Parsed {
  const allowed = 'a comma-separated list of host:port seed nodes of a Redis Cluster (e.g. 10.0.0.1:7000,10.0.0.2:7000)';
  const nodes: string[] = [];
  for (const item of raw.split(',')) {
    const m = /^\s*(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})\s*$/.exec(item);
    if (!m) return bad(allowed);
    const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
    const n = Number(m[2]);
    if (!isHost(host) || n < 1 || n > 65535) return bad(allowed);
    nodes.push(hostPort(host, n));
  }
  return nodes.length > 0 ? ok(Object.freeze(nodes)) : bad(allowed);
}

/** One of `values`, in any case (LOG_LEVEL=INFO is info). */
function oneOf(values: readonly string[]) {
  const allowed = `one of ${values.join(', ')}`;
  return (raw: string): Parsed => {
    const value = raw.toLowerCase();
    return values.includes(value) ? ok(value) : bad(allowed);
  };
}

/**
 * Any bytes Redis would take, but for what is almost surely a mistake in the setting rather than part of
 * the password: control characters (a CRLF secret file, a pasted tab) and spaces at either end.
 */
function password(raw: string): Parsed {
  // Character codes, not a regex: the value is a secret and is never shown, so a mistake must be named precisely.
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return bad('a password without control characters (newline, carriage return, tab, …)');
  }
  if (raw.trim() !== raw) return bad('a password that does not begin or end with a space');
  return ok(raw);
}

/** Redis's booleans: yes or no, in any case. */
function yesNo(raw: string): Parsed {
  const value = raw.toLowerCase();
  return value === 'yes' || value === 'no' ? ok(value === 'yes') : bad('yes or no');
}

/** decodeURIComponent, or undefined where `%` is not followed by two hex digits. */
function percentDecoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function redisUrl(raw: string): Parsed {
  const allowed = 'redis://[user:password@]host[:port][/db] or rediss://… for TLS';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad(allowed);
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) return bad(allowed);
  const dbPath = url.pathname.replace(/^\//, '');
  if (dbPath !== '' && !/^\d+$/.test(dbPath)) return bad(allowed);
  if (url.search || url.hash) return bad(allowed);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!isHost(host)) return bad('a URL whose host is a host name or IP address');
  if (url.port === '0') return bad('a URL whose port is from 1 to 65535');
  const username = percentDecoded(url.username);
  const password = percentDecoded(url.password);
  if (username === undefined || password === undefined) {
    return bad('a URL whose user and password use valid percent-escapes (% and two hex digits, e.g. %40 for @)');
  }
  // AUTH takes a password, with or without a user; a user alone would silently log in as nobody.
  if (username !== '' && password === '') {
    return bad("a URL with a password when it names a user (redis://user:password@host: Redis's AUTH needs one)");
  }
  const target: BackendTarget = {
    host,
    port: url.port ? Number(url.port) : 6379,
    username: username || undefined,
    password: password || undefined,
    db: dbPath ? Number(dbPath) : 0,
    tls: url.protocol === 'rediss:',
  };
  return ok(target);
}

// Redis Sentinel's settings: parsers here, the rows in SETTINGS, the rules between them in sentinelConfig().

/** REDIS_SENTINELS: host:port, comma-separated, each once; an IPv6 address in brackets. */
function sentinelList(raw: string): Parsed {
  const allowed = 'a comma-separated list of host:port (e.g. 10.0.0.1:26379,10.0.0.2:26379; [::1]:26379 for IPv6), each once';
  const list: { host: string; port: number }[] = [];
  for (const item of raw.split(',')) {
    const text = item.trim();
    const colon = text.lastIndexOf(':');
    const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = text.slice(colon + 1);
    if (colon < 0 || !isHost(host) || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return bad(allowed);
    if (list.some((s) => s.host === host && s.port === Number(port))) return bad(allowed);
    list.push({ host, port: Number(port) });
  }
  return ok(list);
}

/** REDIS_SENTINEL_MASTER: a name as sentinel.conf's `sentinel monitor` takes it; no spaces, since +switch-master messages are split on them. */
function masterName(raw: string): Parsed {
  return /^[!-~]{1,200}$/.test(raw) ? ok(raw) : bad("the master's name in sentinel.conf (sentinel monitor <name> …): printable characters, no spaces");
}

const SENTINEL_SETTINGS: readonly Setting[] = [
  {
    key: 'REDIS_SENTINELS',
    default: undefined,
    unit: 'host:port,…',
    help: 'Redis Sentinel: the sentinels to ask where the master is (with REDIS_SENTINEL_MASTER; instead of REDIS_HOST/REDIS_PORT)',
    parse: sentinelList,
  },
  {
    key: 'REDIS_SENTINEL_MASTER',
    default: undefined,
    unit: 'name',
    help: 'the master name the sentinels watch (sentinel monitor <name> …)',
    parse: masterName,
  },
  {
    key: 'REDIS_SENTINEL_PASSWORD',
    default: undefined,
    unit: 'password',
    help: "password of the sentinels themselves (their requirepass); the master's login comes from REDIS_URL",
    parse: password,
    secret: true,
  },
];

/**
 * Both REDIS_SENTINELS and REDIS_SENTINEL_MASTER or neither. With them, REDIS_HOST and REDIS_PORT set to
 * anything but their defaults would be a second answer to "where is Redis", so they are refused (the
 * shipped .config lists the defaults, which say nothing); REDIS_URL still gives the login, database and
 * TLS (its host and port are not used).
 */
function sentinelConfig(raw: ReadonlyMap<string, { value: string; source: string }>, get: <T>(key: string) => T): SentinelConfig | undefined {
  const sentinels = raw.get('REDIS_SENTINELS');
  const master = raw.get('REDIS_SENTINEL_MASTER');
  const given = sentinels ?? master;
  if (given === undefined) {
    const stray = raw.get('REDIS_SENTINEL_PASSWORD');
    if (stray) throw new ConfigError(`REDIS_SENTINEL_PASSWORD is set (from ${stray.source}) but REDIS_SENTINELS is not`);
    return undefined;
  }
  if (sentinels === undefined || master === undefined) {
    const [set, unset] = sentinels ? ['REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER'] : ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINELS'];
    throw new ConfigError(`${set} is set (from ${given.source}) but ${unset} is not: Sentinel needs both (the sentinels to ask, and the master's name)`);
  }
  const cluster = raw.get('REDIS_CLUSTER_NODES');
  if (cluster) {
    throw new ConfigError(
      `REDIS_SENTINELS is set (from ${sentinels.source}) and so is REDIS_CLUSTER_NODES (from ${cluster.source}): a Redis Cluster fails over by itself; set one of them`,
    );
  }
  for (const key of ['REDIS_HOST', 'REDIS_PORT']) {
    const stray = raw.get(key);
    if (stray && stray.value.trim() !== SETTING_BY_KEY.get(key)!.default) {
      throw new ConfigError(
        `${key} is set (from ${stray.source}) but REDIS_SENTINELS says where the master is: remove ${key} (REDIS_URL may still give the master's password, database and TLS)`,
      );
    }
  }
  return Object.freeze({
    masterName: get<string>('REDIS_SENTINEL_MASTER'),
    sentinels: Object.freeze(get<{ host: string; port: number }[]>('REDIS_SENTINELS').map((s) => Object.freeze(s))),
    password: get<string | undefined>('REDIS_SENTINEL_PASSWORD'),
  });
}

const port = integerIn(1, 65535, 'an integer from 1 to 65535');
const tlsPort = integerIn(0, 65535, 'an integer from 0 to 65535 (0: no TLS port)');
const path = (raw: string): Parsed => ok(raw);
// `off`, not Redis's `port 0`: here 0 has always meant "any free port".
const respPort = (raw: string): Parsed =>
  raw.toLowerCase() === 'off' ? ok(null) : integerIn(0, 65535, 'an integer from 0 to 65535 (0 picks a free port), or off for none')(raw);
const listenPort = integerIn(0, 65535, 'an integer from 0 to 65535 (0 picks a free port)');
const positiveInteger = integerIn(1, Number.MAX_SAFE_INTEGER, 'a positive integer');

/**
 * lru-cache preallocates every slot at start: measured 40 bytes per slot of V8 heap with size
 * tracking on (32 without), so 10 000 000 slots take 400 MB (450 MB RSS, 520 MB at peak) before a
 * single entry is stored; 10^9 would need 40 GB and aborts the process. Past this bound the byte
 * budget (CACHE_MAX_MEMORY), not the key count, is what should limit the cache.
 */
const MAX_CACHE_CAPACITY = 10_000_000;

/**
 * Each worker holds a cache, backend connections of its own and ~100 MB of Node at start: past a few
 * hundred, more processes than a machine has cores only compete with each other.
 */
const MAX_WORKERS = 256;

/** WORKERS: a count, or auto for one per core this process may use (os.availableParallelism(), capped at MAX_WORKERS). */
function workerCount(raw: string): Parsed {
  if (raw.toLowerCase() === 'auto') return ok(Math.min(availableParallelism(), MAX_WORKERS));
  return integerIn(1, MAX_WORKERS, `a positive integer up to ${MAX_WORKERS}, or auto (one per core)`)(raw);
}

/** Every setting, in the order `--help` and `.config` list them. */
export const SETTINGS: readonly Setting[] = [
  { key: 'REDIS_HOST', default: '127.0.0.1', unit: 'host', help: 'backing Redis host', parse: hostName },
  { key: 'REDIS_PORT', default: '6379', unit: 'port', help: 'backing Redis port', parse: port },
  {
    key: 'REDIS_URL',
    default: undefined,
    unit: 'url',
    help: 'alternative to host/port: redis://[user:pass@]host:port[/db], rediss:// for TLS; a user needs a password',
    parse: redisUrl,
  },
  {
    key: 'REDIS_CLUSTER_NODES',
    default: undefined,
    unit: 'host:port,…',
    help: "a Redis Cluster's seed nodes instead of one Redis (REDIS_HOST/REDIS_PORT); REDIS_URL then gives only the login and TLS",
    parse: clusterNodes,
  },
  { key: 'PROXY_LISTEN', default: '127.0.0.1', unit: 'address', help: 'address both listeners bind (0.0.0.0 in a container)', parse: hostName },
  { key: 'PROXY_PORT', default: '5000', unit: 'port', help: 'HTTP port', parse: listenPort },
  { key: 'RESP_PORT', default: '6380', unit: 'port', help: 'Redis-protocol port; off: none (TLS_PORT only)', parse: respPort },
  // TLS, with Redis's names (tls-port, tls-cert-file, …) and meanings: TLS_PORT 0 is off, not "any free port".
  { key: 'TLS_PORT', default: '0', unit: 'port', help: 'Redis-protocol port over TLS; 0: none (needs TLS_CERT_FILE and TLS_KEY_FILE)', parse: tlsPort },
  { key: 'TLS_CERT_FILE', default: undefined, unit: 'path', help: 'PEM certificate (chain) TLS_PORT (and HTTPS) presents; reloaded on SIGHUP', parse: path },
  { key: 'TLS_KEY_FILE', default: undefined, unit: 'path', help: 'PEM private key of TLS_CERT_FILE (unencrypted); reloaded on SIGHUP', parse: path },
  {
    key: 'TLS_CA_CERT_FILE',
    default: undefined,
    unit: 'path',
    help: "PEM CA certificates clients' certificates must chain to; reloaded on SIGHUP",
    parse: path,
  },
  {
    key: 'TLS_AUTH_CLIENTS',
    default: 'yes',
    unit: 'mode',
    help: 'yes: clients must present a certificate signed by TLS_CA_CERT_FILE; optional: checked if presented; no: not asked for',
    parse: oneOf(TLS_AUTH_CLIENTS),
  },
  {
    key: 'HTTP_TLS',
    default: 'no',
    unit: 'yes|no',
    help: 'yes: HTTPS on PROXY_PORT with TLS_CERT_FILE and TLS_KEY_FILE, client certificates as TLS_AUTH_CLIENTS says',
    parse: oneOf(['yes', 'no']),
  },
  {
    key: 'REDIS_TLS_CA_CERT_FILE',
    default: undefined,
    unit: 'path',
    help: 'with rediss://: PEM CA certificates the backend must chain to, instead of the system ones',
    parse: path,
  },
  {
    key: 'REDIS_TLS_CERT_FILE',
    default: undefined,
    unit: 'path',
    help: 'with rediss://: PEM client certificate presented to the backend (with REDIS_TLS_KEY_FILE)',
    parse: path,
  },
  { key: 'REDIS_TLS_KEY_FILE', default: undefined, unit: 'path', help: 'with rediss://: PEM private key of REDIS_TLS_CERT_FILE (unencrypted)', parse: path },
  {
    key: 'REDIS_TLS_SERVER_NAME',
    default: undefined,
    unit: 'host',
    help: "with rediss://: name the backend's certificate must carry (SNI), default the URL's host",
    parse: hostName,
  },
  ...SENTINEL_SETTINGS,
  { key: 'CACHE_EXPIRY', default: '60', unit: 'seconds', help: 'seconds an entry may be served after it was fetched (0.001 to 2147483.647)', parse: seconds },
  {
    key: 'CACHE_CAPACITY',
    default: '10000',
    unit: 'keys',
    help: `keys kept, at most ${MAX_CACHE_CAPACITY}; the least recently read is evicted first`,
    parse: integerIn(1, MAX_CACHE_CAPACITY, `a positive integer up to ${MAX_CACHE_CAPACITY} (each key's slot is preallocated at start)`),
  },
  // 256 MiB (named after Redis's maxmemory): holds all 10 000 keys of the default capacity while
  // values average up to 26 KB. Full, its entries measured about the heap they are charged, next to
  // the process's ~140 MB at start; garbage from evictions comes on top until V8 collects it
  // (README, "Memory"). Without a budget, 10 000 values of 512 MiB could be held.
  {
    key: 'CACHE_MAX_MEMORY',
    default: '256mb',
    unit: 'bytes',
    help: 'bytes the cached keys and values may hold; the least recently read is evicted first',
    parse: byteSize,
  },
  // 1 MiB, 1/256 of the default budget: one big value cannot push out thousands of small hot ones,
  // and a hit costs a copy of the value anyway. Larger values still work; each read goes to Redis.
  {
    key: 'CACHE_MAX_VALUE_SIZE',
    default: '1mb',
    unit: 'bytes',
    help: 'largest value cached (at most CACHE_MAX_MEMORY); a larger one is answered but not cached',
    parse: valueSize,
  },
  {
    key: 'CACHE_INVALIDATION',
    default: 'tracking',
    unit: 'mode',
    help: 'tracking: Redis tells the proxy when a cached key changes (CLIENT TRACKING); expiry: writes by others are seen only at CACHE_EXPIRY',
    parse: oneOf(['tracking', 'expiry']),
  },
  {
    key: 'MAX_CLIENTS',
    default: '10000',
    unit: 'connections',
    help: 'connections served at once per front end; RESP refuses the next, HTTP closes an idle one for it',
    parse: positiveInteger,
  },
  {
    key: 'MAX_PARALLEL',
    default: '256',
    unit: 'requests',
    help: 'backend requests in flight at once on each shared connection; more wait their turn',
    parse: positiveInteger,
  },
  // 1000: Redis's own default maxclients is 10 000, and each pinned connection is one of them.
  {
    key: 'MAX_PINNED_CONNECTIONS',
    default: '1000',
    unit: 'connections',
    help: "backend connections of clients' own (transactions, blocking commands, Pub/Sub, MONITOR); past it such a command gets an error",
    parse: positiveInteger,
  },
  { key: 'QUERY_BUFFER_LIMIT', default: '64mb', unit: 'bytes', help: 'largest RESP request accepted; a bigger one is a protocol error', parse: byteSize },
  {
    key: 'REDIS_TIMEOUT',
    default: '2',
    unit: 'seconds',
    help: 'how long a backend read may take, from when it was queued, before it fails with an error (0.001 to 2147483.647)',
    parse: seconds,
  },
  {
    key: 'SHUTDOWN_TIMEOUT',
    default: '10',
    unit: 'seconds',
    help: 'on SIGTERM/SIGINT, how long requests already received may take to be answered before their connections are closed (0.001 to 2147483.647)',
    parse: seconds,
  },
  // Every core: processes sharing the ports through node:cluster, each with a cache of its own (README, "Every core").
  {
    key: 'WORKERS',
    default: '1',
    unit: 'count',
    help: `proxy processes sharing the ports, each with its own cache (memory x N); auto: one per core; up to ${MAX_WORKERS}`,
    parse: workerCount,
  },
  { key: 'LOG_LEVEL', default: 'info', unit: 'level', help: `least severe log level written: ${LOG_LEVELS.join(', ')}`, parse: oneOf(LOG_LEVELS) },
  {
    key: 'LOG_FORMAT',
    default: 'auto',
    unit: 'format',
    help: 'json, pretty (for a person), or auto: pretty when stderr is a terminal, else json',
    parse: oneOf(LOG_FORMATS),
  },
  // Client authentication and protected mode, named after Redis's requirepass and protected-mode.
  {
    key: 'PROXY_PASSWORD',
    default: undefined,
    unit: 'password',
    help: "password clients must give (AUTH <password>, AUTH default <password>, HELLO 3 AUTH default <password>; HTTP Bearer or Basic); Redis's requirepass",
    parse: password,
    secret: true,
  },
  {
    key: 'PROXY_PASSWORD_FILE',
    default: undefined,
    unit: 'path',
    help: 'file holding PROXY_PASSWORD (a container secret); one trailing newline is not part of it',
    parse: (raw) => ok(raw),
  },
  {
    key: 'PROTECTED_MODE',
    default: 'yes',
    unit: 'yes|no',
    help: 'without a password, refuse clients from addresses other than loopback, as Redis does',
    parse: yesNo,
  },
  {
    key: 'METRICS_AUTH',
    default: 'yes',
    unit: 'yes|no',
    help: 'with a password set, /metrics asks for it as /query does; no: /metrics stays open',
    parse: yesNo,
  },
  {
    key: 'AUTH_TIMEOUT',
    default: '10',
    unit: 'seconds',
    help: 'with a password set, a RESP connection that has not authenticated within this time is closed (0.001 to 2147483.647)',
    parse: seconds,
  },
];

const SETTING_BY_KEY = new Map(SETTINGS.map((s) => [s.key, s]));

/** `CACHE_EXPIRY` → `--cache-expiry`. */
const flagName = (key: string): string => key.toLowerCase().replaceAll('_', '-');

export interface LoadOptions {
  argv?: readonly string[];
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

export type LoadResult = { kind: 'config'; config: Config; settings: EffectiveSettings } | { kind: 'help'; text: string };

/**
 * Loads settings with this precedence: flags > environment > config file > defaults.
 * Throws ConfigError with one line naming the key, the value and what is allowed.
 */
export function loadConfig(options: LoadOptions = {}): LoadResult {
  const argv = options.argv ?? [];
  const env = options.env ?? {};
  const cwd = options.cwd ?? process.cwd();

  const flags = parseFlags(argv);
  if (flags.help) return { kind: 'help', text: helpText() };

  const raw = new Map<string, { value: string; source: string }>();

  const file = flags.configPath ? resolve(cwd, flags.configPath) : resolve(cwd, '.config');
  if (existsSync(file)) {
    for (const { key, value, line } of parseConfigFile(readConfigFile(file), file)) {
      if (!SETTING_BY_KEY.has(key)) {
        throw new ConfigError(`${file}:${line}: unknown setting ${key}; known settings are ${SETTINGS.map((s) => s.key).join(', ')}`);
      }
      if (value !== '') raw.set(key, { value, source: `${file}:${line}` });
      else raw.delete(key);
    }
  } else if (flags.configPath) {
    throw new ConfigError(`--config ${flags.configPath}: no such file`);
  }

  for (const setting of SETTINGS) {
    const value = env[setting.key];
    if (value !== undefined && value !== '') raw.set(setting.key, { value, source: 'environment' });
  }
  for (const [key, value] of flags.values) raw.set(key, { value, source: `--${flagName(key)}` });

  const parsed = new Map<string, unknown>();
  for (const setting of SETTINGS) {
    const given = raw.get(setting.key);
    const text = given?.value ?? setting.default;
    if (text === undefined) continue;
    const result = setting.parse(setting.secret ? text : text.trim());
    if (!result.ok) {
      const from = given ? ` (from ${given.source})` : '';
      const shown = setting.secret ? '***' : setting.key === 'REDIS_URL' ? maskPassword(text) : text;
      throw new ConfigError(`${setting.key} must be ${result.allowed}, got ${JSON.stringify(shown)}${from}`);
    }
    parsed.set(setting.key, result.value);
  }

  const get = <T>(key: string) => parsed.get(key) as T;
  if (get<number>('CACHE_MAX_VALUE_SIZE') > get<number>('CACHE_MAX_MEMORY')) {
    const given = (key: string) => {
      const from = raw.get(key);
      return `${key}=${JSON.stringify(from?.value ?? SETTING_BY_KEY.get(key)!.default)} (${from ? `from ${from.source}` : 'default'})`;
    };
    throw new ConfigError(
      `CACHE_MAX_VALUE_SIZE must be at most CACHE_MAX_MEMORY (a value larger than the whole cache cannot be cached), got ${given('CACHE_MAX_VALUE_SIZE')} and ${given('CACHE_MAX_MEMORY')}`,
    );
  }
  const backend: BackendTarget = get<BackendTarget | undefined>('REDIS_URL') ?? {
    host: get<string>('REDIS_HOST'),
    port: get<number>('REDIS_PORT'),
    username: undefined,
    password: undefined,
    db: 0,
    tls: false,
  };
  const setting = (key: string) => {
    const from = raw.get(key);
    return from === undefined ? undefined : { key, file: from.value.trim(), source: from.source };
  };
  const password = clientPassword(raw, cwd);
  const config: Config = Object.freeze({
    backend: Object.freeze(withBackendTls(backend, setting, get)),
    sentinel: sentinelConfig(raw, get),
    clusterNodes: clusterSeeds(backend, raw, get),
    listen: get<string>('PROXY_LISTEN'),
    httpPort: get<number>('PROXY_PORT'),
    respPort: get<number | null>('RESP_PORT'),
    ...tlsServers(setting, get),
    cacheExpiryMs: get<number>('CACHE_EXPIRY'),
    cacheCapacity: get<number>('CACHE_CAPACITY'),
    cacheMaxMemory: get<number>('CACHE_MAX_MEMORY'),
    cacheMaxValueSize: get<number>('CACHE_MAX_VALUE_SIZE'),
    maxClients: get<number>('MAX_CLIENTS'),
    maxParallel: get<number>('MAX_PARALLEL'),
    maxPinnedConnections: get<number>('MAX_PINNED_CONNECTIONS'),
    queryBufferLimit: get<number>('QUERY_BUFFER_LIMIT'),
    backendTimeoutMs: get<number>('REDIS_TIMEOUT'),
    shutdownTimeoutMs: get<number>('SHUTDOWN_TIMEOUT'),
    workers: get<number>('WORKERS'),
    cacheInvalidation: get<'tracking' | 'expiry'>('CACHE_INVALIDATION'),
    logLevel: get<LogLevel>('LOG_LEVEL'),
    logFormat: get<LogFormat>('LOG_FORMAT'),
    password,
    protectedMode: get<boolean>('PROTECTED_MODE'),
    metricsAuth: get<boolean>('METRICS_AUTH'),
    authTimeoutMs: get<number>('AUTH_TIMEOUT'),
  });
  const settings: Record<string, { value: string | null; from: string }> = {};
  for (const setting of SETTINGS) {
    const given = raw.get(setting.key);
    const text = given?.value.trim() ?? setting.default ?? null;
    const shown = text === null ? null : setting.secret ? '***' : setting.key === 'REDIS_URL' ? maskPassword(text) : text;
    settings[setting.key] = { value: shown, from: given?.source ?? 'default' };
  }
  return { kind: 'config', config, settings: Object.freeze(settings) };
}

type GivenSetting = (key: string) => { key: string; file: string; source: string } | undefined;

/** Only what the secure context needs: the source of a setting is for the error's text. */
const fileOf = (given: ReturnType<GivenSetting>) => (given === undefined ? undefined : { key: given.key, file: given.file });

/** Builds the secure context once, so that a file that cannot serve stops the start with its setting named. */
function checkTlsFiles(files: TlsFiles): void {
  try {
    loadSecureContext(files);
  } catch (err) {
    if (err instanceof TlsFilesError) throw new ConfigError(err.message);
    throw err;
  }
}

/**
 * TLS_PORT, HTTP_TLS and their files, checked as Redis checks tls-port's: a certificate and key, and a
 * CA when client certificates are asked for.
 */
function tlsServers(given: GivenSetting, get: <T>(key: string) => T): { tls: TlsListenerConfig | undefined; httpTls: TlsServerConfig | undefined } {
  const port = get<number>('TLS_PORT');
  const https = get<string>('HTTP_TLS') === 'yes';
  const cert = given('TLS_CERT_FILE');
  const key = given('TLS_KEY_FILE');
  const ca = given('TLS_CA_CERT_FILE');
  const authClients = get<TlsAuthClients>('TLS_AUTH_CLIENTS');
  if (port === 0 && get<number | null>('RESP_PORT') === null) {
    throw new ConfigError('RESP_PORT=off needs TLS_PORT: without either the proxy has no Redis-protocol port');
  }
  if (port === 0 && !https) {
    const stray = cert ?? key ?? ca;
    if (stray)
      throw new ConfigError(`${stray.key} is set (from ${stray.source}) but TLS_PORT is not: set TLS_PORT (or HTTP_TLS=yes) to serve clients over TLS`);
    return { tls: undefined, httpTls: undefined };
  }
  if (port !== 0 && (port === get<number>('RESP_PORT') || port === get<number>('PROXY_PORT'))) {
    throw new ConfigError(`TLS_PORT must differ from RESP_PORT and PROXY_PORT, got ${port} for both`);
  }
  const wants = port !== 0 ? `TLS_PORT=${port}` : 'HTTP_TLS=yes';
  if (!cert || !key) throw new ConfigError(`${wants} needs TLS_CERT_FILE and TLS_KEY_FILE (the certificate the port presents, and its key)`);
  // As Redis refuses to start: asking clients for certificates means nothing without the CA they are checked against.
  if (authClients !== 'no' && !ca) {
    throw new ConfigError(
      `TLS_AUTH_CLIENTS=${authClients} needs TLS_CA_CERT_FILE (the CA client certificates must chain to); set TLS_AUTH_CLIENTS=no to serve clients without certificates`,
    );
  }
  const files: TlsFiles = { cert: fileOf(cert), key: fileOf(key), ca: fileOf(ca) };
  checkTlsFiles(files);
  const server: TlsServerConfig = Object.freeze({ files, authClients });
  return { tls: port !== 0 ? Object.freeze({ port, ...server }) : undefined, httpTls: https ? server : undefined };
}

/** REDIS_TLS_*: only with rediss://, a certificate only with its key; checked by building the context once. */
function withBackendTls(backend: BackendTarget, given: GivenSetting, get: <T>(key: string) => T): BackendTarget {
  const ca = given('REDIS_TLS_CA_CERT_FILE');
  const cert = given('REDIS_TLS_CERT_FILE');
  const key = given('REDIS_TLS_KEY_FILE');
  const serverName = get<string | undefined>('REDIS_TLS_SERVER_NAME');
  const first = ca ?? cert ?? key ?? given('REDIS_TLS_SERVER_NAME');
  if (first === undefined) return backend;
  if (!backend.tls) {
    throw new ConfigError(`${first.key} is set (from ${first.source}) but the backend is not TLS: set REDIS_URL=rediss://host:port to use it`);
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(
      `${cert ? 'REDIS_TLS_CERT_FILE' : 'REDIS_TLS_KEY_FILE'} needs ${cert ? 'REDIS_TLS_KEY_FILE' : 'REDIS_TLS_CERT_FILE'} too (a client certificate and its key)`,
    );
  }
  const files: TlsFiles = { cert: fileOf(cert), key: fileOf(key), ca: fileOf(ca) };
  if (ca ?? cert) checkTlsFiles(files);
  return {
    ...backend,
    ...((ca ?? cert) ? { tlsFiles: Object.freeze(files) } : {}),
    ...(serverName === undefined ? {} : { tlsServerName: serverName }),
  };
}

/**
 * PROXY_PASSWORD, or the contents of the file PROXY_PASSWORD_FILE names without one trailing newline
 * (what `echo secret > file` and container secrets leave). Never both: which one wins would be a guess.
 */
function clientPassword(raw: ReadonlyMap<string, { value: string; source: string }>, cwd: string): string | undefined {
  const inline = raw.get('PROXY_PASSWORD');
  const file = raw.get('PROXY_PASSWORD_FILE');
  if (inline !== undefined && file !== undefined) {
    throw new ConfigError(`PROXY_PASSWORD and PROXY_PASSWORD_FILE are both set (from ${inline.source} and ${file.source}); set only one of them`);
  }
  if (file === undefined) return inline?.value;
  const refuse = (allowed: string) => new ConfigError(`PROXY_PASSWORD_FILE must be ${allowed}, got ${JSON.stringify(file.value)} (from ${file.source})`);
  let text: string;
  try {
    text = readFileSync(resolve(cwd, file.value.trim()), 'utf8');
  } catch (err) {
    // The error's code (ENOENT, EACCES, EISDIR), not its message: that repeats the path, which the line already shows.
    throw refuse(`a readable file holding the password (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const contents = text.replace(/\r?\n$/, '');
  if (contents === '') throw refuse('a file holding the password (it is empty)');
  const checked = password(contents);
  if (!checked.ok) throw refuse(`a file holding ${checked.allowed}`);
  return contents;
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot be read (${(err as Error).message})`);
  }
}

interface Flags {
  help: boolean;
  configPath: string | undefined;
  values: Map<string, string>;
}

/** Accepts `--flag value` and `--flag=value`; anything else is an error naming the flag. */
function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = { help: false, configPath: undefined, values: new Map() };
  const byFlag = new Map(SETTINGS.map((s) => [`--${flagName(s.key)}`, s.key]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      flags.help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (name !== '--config' && !byFlag.has(name)) {
      throw new ConfigError(`unknown option ${JSON.stringify(arg)}; run with --help to list the options`);
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i];
    if (value === undefined) throw new ConfigError(`option ${name} needs a value; run with --help to list the options`);
    if (name === '--config') flags.configPath = value;
    else flags.values.set(byFlag.get(name)!, value);
  }
  return flags;
}

function helpText(): string {
  const rows = SETTINGS.map((s) => {
    const flag = `--${flagName(s.key)} <${s.unit}>`;
    const def = s.default === undefined ? '' : ` (default ${s.default})`;
    return `  ${flag.padEnd(34)}${s.key}: ${s.help}${def}`;
  });
  return [
    'Usage: npm start -- [options]      (or: node src/start.mjs [options])',
    '',
    'A caching proxy in front of one Redis. Settings come from .config in the working',
    'directory, then environment variables of the same name, then these flags; each',
    'overrides the one before.',
    '',
    '  --config <path>                   read settings from this file instead of ./.config',
    ...rows,
    '  --help                            show this text',
    '',
  ].join('\n');
}

/** REDIS_CLUSTER_NODES, checked against what a Redis Cluster allows: database 0 only. */
function clusterSeeds(
  backend: BackendTarget,
  raw: ReadonlyMap<string, { value: string; source: string }>,
  get: <T>(key: string) => T,
): readonly string[] | undefined {
  const nodes = get<readonly string[] | undefined>('REDIS_CLUSTER_NODES');
  if (nodes === undefined) return undefined;
  if (backend.db !== 0) {
    throw new ConfigError(
      `REDIS_URL selects database ${backend.db} (from ${raw.get('REDIS_URL')?.source ?? 'default'}) but a Redis Cluster has database 0 only: drop the /${backend.db} with REDIS_CLUSTER_NODES`,
    );
  }
  return nodes;
}
