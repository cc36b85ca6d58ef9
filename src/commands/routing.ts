// Owns where each command goes — answered here, read through the cache, forwarded, pinned, or refused — and what a write invalidates.
import { getKeyIndexes, exists as knownToIoredis, hasFlag } from '@ioredis/commands';
import { CommandError } from '../errors.ts';
import { type BackendCommand, type CommandTable, keyPositions, lookupCommand } from './backend-commands.ts';

/** The stateful sessions a client gets its own backend connection for. */
export type SessionKind = 'multi' | 'watch' | 'blocking' | 'subscribe' | 'monitor';

export type Route =
  /** The proxy's own handler (connection state, INFO, CONFIG GET, …). */
  | { readonly kind: 'local' }
  /** A read served through the cache by the proxy's own handler (GET, MGET). */
  | { readonly kind: 'cached' }
  /** Another read command served through the cache: its reply as Redis sent it, cached whole. */
  | { readonly kind: 'cached-read' }
  /** Sent on a connection shared by many clients; the reply is relayed as Redis sent it. */
  | { readonly kind: 'forward' }
  /**
   * Sent on the cache's own connection, which never runs a script: SCRIPT KILL, FUNCTION KILL and
   * FUNCTION STATS (which Redis answers while busy) must reach Redis while a script holds the shared
   * connection they would otherwise queue behind.
   */
  | { readonly kind: 'control' }
  /** Needs a backend connection of the client's own for as long as the session lasts. */
  | { readonly kind: 'session'; readonly session: SessionKind }
  | { readonly kind: 'refused'; readonly error: CommandError };

const LOCAL: Route = { kind: 'local' };
const CACHED: Route = { kind: 'cached' };
const CACHED_READ: Route = { kind: 'cached-read' };
const FORWARD: Route = { kind: 'forward' };
const CONTROL: Route = { kind: 'control' };
const session = (kind: SessionKind): Route => ({ kind: 'session', session: kind });
const refused = (name: string, why: string): Route => ({
  kind: 'refused',
  error: new CommandError(`ERR '${name.replace('|', ' ').toUpperCase()}' is not allowed through redis-cache-proxy: ${why}`),
});

const SHARED = 'its backend connections are shared by many clients';

/**
 * The proxy's rules, by lower-case name (`container|sub` for subcommands). Anything not here is
 * forwarded, or starts a session when the backend flags it blocking.
 */
const RULES = new Map<string, Route>([
  ['get', CACHED],
  ['mget', CACHED],
  // Connection state lives in the proxy: each client has its own, the backend connections do not.
  ...['ping', 'echo', 'quit', 'hello', 'auth', 'select', 'reset', 'info', 'config|get'].map((n) => [n, LOCAL] as const),
  ...['setname', 'getname', 'setinfo', 'id', 'info', 'list', 'kill', 'help', 'no-evict', 'no-touch', 'getredir', 'unblock', 'reply'].map(
    (n) => [`client|${n}`, LOCAL] as const,
  ),
  ['client', LOCAL],
  // Outside a session these only have Redis's answer for a connection with no transaction or subscription.
  ...['exec', 'discard', 'unwatch', 'unsubscribe', 'punsubscribe', 'sunsubscribe'].map((n) => [n, LOCAL] as const),
  ['script|kill', CONTROL],
  ['function|kill', CONTROL],
  ['function|stats', CONTROL],
  ['multi', session('multi')],
  ['watch', session('watch')],
  ['subscribe', session('subscribe')],
  ['psubscribe', session('subscribe')],
  ['ssubscribe', session('subscribe')],
  ['monitor', session('monitor')],
  // Block without the backend flagging them blocking.
  ['wait', session('blocking')],
  ['waitaof', session('blocking')],
  ['client|tracking', refused('client|tracking', 'the proxy keeps its own cache coherent; point client-side caching at Redis directly')],
  ['client|caching', refused('client|caching', 'the proxy keeps its own cache coherent; point client-side caching at Redis directly')],
  ['client|pause', refused('client|pause', `${SHARED}; pause Redis directly`)],
  ['client|unpause', refused('client|unpause', `${SHARED}; unpause Redis directly`)],
  ['shutdown', refused('shutdown', 'stop Redis directly, or stop the proxy with SIGTERM')],
  ['replicaof', refused('replicaof', 'change replication on Redis directly')],
  ['slaveof', refused('slaveof', 'change replication on Redis directly')],
  ['failover', refused('failover', 'fail over on Redis directly')],
  ['sync', refused('sync', 'the proxy is not a replication endpoint')],
  ['psync', refused('psync', 'the proxy is not a replication endpoint')],
  ['debug', refused('debug', 'DEBUG can crash or freeze the Redis every client of the proxy shares; run it on Redis directly')],
  // What Redis itself answers in standalone mode, so cluster-aware clients fall back to a single endpoint.
  ['cluster', { kind: 'refused', error: new CommandError('ERR This instance has cluster support disabled') }],
  ['sentinel', refused('sentinel', 'the proxy is a single Redis endpoint, not a Sentinel')],
]);

/** Commands some of whose subcommands have rules of their own. */
const SUBCOMMAND_RULES = new Set(['client', 'config', 'script', 'function']);

const noScores = (args: readonly Buffer[]) => !args.some((a) => a.length === 10 && lowerName(a) === 'withscores');

/**
 * Read commands cached besides GET and MGET. Each reads only keys Redis tracks, gives the same answer
 * until one of them changes (no time, no randomness: not TTL, not SRANDMEMBER), and has the same shape
 * in RESP2 and RESP3 but for types (resp3-to-resp2.ts), with bulk-string nulls. Left out where the
 * shape differs: scores WITHSCORES (RESP3 nests pairs), ZRANK … WITHSCORE (a null array in RESP2).
 */
const CACHED_READS: ReadonlyMap<string, (args: readonly Buffer[]) => boolean> = new Map([
  ...[
    'getrange',
    'strlen',
    'exists',
    'type',
    'getbit',
    'bitcount',
    'hget',
    'hmget',
    'hgetall',
    'hexists',
    'hlen',
    'hkeys',
    'hvals',
    'hstrlen',
    'smembers',
    'sismember',
    'smismember',
    'scard',
    'lrange',
    'lindex',
    'llen',
    'zscore',
    'zmscore',
    'zcard',
    'zcount',
    'zlexcount',
    'zrangebylex',
    'zrevrangebylex',
  ].map((name) => [name, () => true] as const),
  ['zrank', (args: readonly Buffer[]) => args.length === 3],
  ['zrevrank', (args: readonly Buffer[]) => args.length === 3],
  ['zrange', noScores],
  ['zrevrange', noScores],
  ['zrangebyscore', noScores],
  ['zrevrangebyscore', noScores],
]);

/** Blocking only with their BLOCK option. */
const BLOCK_OPTION = new Set(['xread', 'xreadgroup']);

const lowerName = (arg: Buffer): string => arg.toString('latin1').toLowerCase();

/**
 * Where `args` (args[0] is the command's name) goes. `cachesReads`: the cache can hold read commands'
 * replies (its connection speaks RESP3); otherwise only GET and MGET are cached.
 */
export function routeOf(args: readonly Buffer[], table: CommandTable | undefined, cachesReads = false): Route {
  const name = lowerName(args[0]!);
  if (cachesReads && CACHED_READS.get(name)?.(args) === true) return CACHED_READ;
  const direct = RULES.get(name);
  if (direct !== undefined && name !== 'client') return direct;
  if (args.length >= 2 && SUBCOMMAND_RULES.has(name)) {
    const sub = RULES.get(`${name}|${lowerName(args[1]!)}`);
    if (sub !== undefined) return sub;
    if (name === 'client') return LOCAL; // CLIENT <unknown>: the proxy's own error, as Redis words it
  }
  if (direct !== undefined) return direct;
  if (BLOCK_OPTION.has(name)) return args.some((a) => lowerName(a) === 'block') ? session('blocking') : FORWARD;
  const command = table === undefined ? undefined : lookupCommand(table, name, args);
  const blocking = command ? command.flags.has('blocking') : knownToIoredis(name) && hasFlag(name, 'blocking');
  return blocking ? session('blocking') : FORWARD;
}

/**
 * What a command may change in the cache once Redis has acknowledged it: nothing (a read), these keys
 * (in any database: MOVE and COPY … DB reach across), `unknown-keys` (keys it does not name: a script,
 * a module's command; Redis's invalidations name them), or `all` (no key at all: FLUSHALL, FLUSHDB,
 * SWAPDB, whose effects tracking does not always report: SWAPDB sends no invalidation).
 */
export type WriteEffect = null | readonly Buffer[] | 'unknown-keys' | 'all';

/** The keys a read reads, as latin1 strings (the cache's form); null when they cannot be told. */
export function readKeys(args: readonly Buffer[], table: CommandTable | undefined): string[] | null {
  const keys = commandKeys(args, table);
  if (keys === null || keys.length === 0) return null;
  return keys.map((key) => key.latin1Slice(0, key.length));
}

/** The keys a command names ([] for none); null when they cannot be told (a module's command, an incomplete key spec). */
export function commandKeys(args: readonly Buffer[], table: CommandTable | undefined): Buffer[] | null {
  const name = lowerName(args[0]!);
  const command = table === undefined ? undefined : lookupCommand(table, name, args);
  const positions = command !== undefined ? keyPositions(command, args) : knownToIoredis(name) ? ioredisKeyPositions(name, args) : null;
  if (positions === null) return null;
  return positions.filter((i) => i < args.length).map((i) => args[i]!);
}

/** Scripts and functions: any key, whatever they declare. */
const SCRIPTS = new Set(['eval', 'evalsha', 'fcall']);

export function writeEffect(args: readonly Buffer[], table: CommandTable | undefined): WriteEffect {
  const name = lowerName(args[0]!);
  if (SCRIPTS.has(name)) return 'unknown-keys';
  const command: BackendCommand | undefined = table === undefined ? undefined : lookupCommand(table, name, args);
  if (command === undefined) {
    if (!knownToIoredis(name)) return 'unknown-keys'; // a module's command, or one newer than both tables
    if (!hasFlag(name, 'write')) return null;
    return keysOrAll(ioredisKeyPositions(name, args), args);
  }
  if (!command.flags.has('write')) return null;
  return keysOrAll(keyPositions(command, args) ?? (knownToIoredis(name) ? ioredisKeyPositions(name, args) : null), args);
}

/** A write with no key Redis names (FLUSHALL, FLUSHDB, SWAPDB, …) may change anything. */
function keysOrAll(positions: number[] | null, args: readonly Buffer[]): WriteEffect {
  if (positions === null) return 'unknown-keys';
  if (positions.length === 0) return 'all';
  return positions.filter((i) => i < args.length).map((i) => args[i]!);
}

/** @ioredis/commands counts positions after the name, and knows the movable keys of SORT and MIGRATE. */
function ioredisKeyPositions(name: string, args: readonly Buffer[]): number[] | null {
  try {
    return getKeyIndexes(name, args.slice(1)).map((i) => i + 1);
  } catch {
    return null;
  }
}
