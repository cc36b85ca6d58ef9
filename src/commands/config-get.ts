// Owns CONFIG GET: Redis's parameters, forwarded, and the proxy's own (cache-expiry, …) added.
import { encodeCommand } from '../resp/command-encoder.ts';
import type { Reply } from '../resp/reply.ts';
import { parseReply } from '../resp/reply-reader.ts';
import { compileGlob } from './glob.ts';
import { command } from './spec.ts';
import type { CommandSpec, ProxyContext } from './types.ts';

/** The proxy's own parameters, as CONFIG GET names them. */
function proxyParameters({ config }: ProxyContext): [string, string][] {
  return [
    ['cache-expiry', String(config.cacheExpiryMs / 1000)],
    ['cache-capacity', String(config.cacheCapacity)],
    ['cache-max-memory', String(config.cacheMaxMemory)],
    ['cache-max-value-size', String(config.cacheMaxValueSize)],
    ['max-parallel', String(config.maxParallel)],
    ['max-pinned-connections', String(config.maxPinnedConnections)],
  ];
}

/**
 * Redis's parameters that hold passwords. Redis shows them to whoever may run CONFIG GET; through the
 * proxy that is every client that knows PROXY_PASSWORD, and the password Redis asks is the proxy's own
 * login (REDIS_URL's): it is not theirs to read. Shown as Redis shows a set password in its own logs.
 */
const SECRET_PARAMETERS = new Set(['requirepass', 'masterauth', 'tls-key-file-pass', 'tls-client-key-file-pass']);
const HIDDEN = Buffer.from('***');

/** Redis's own answer as name → value; empty when Redis cannot be asked (the proxy's still answer). */
async function backendParameters(proxy: ProxyContext, db: number, patterns: readonly Buffer[]): Promise<Map<string, Reply>> {
  const found = new Map<string, Reply>();
  try {
    const reply = parseReply(await proxy.backends.forward(2, db, encodeCommand(['CONFIG', 'GET', ...patterns])));
    if (Array.isArray(reply)) {
      for (let i = 0; i + 1 < reply.length; i += 2) {
        const [name, value] = [reply[i], reply[i + 1]];
        if (!(name instanceof Buffer && value instanceof Buffer)) continue;
        const key = name.toString('latin1');
        found.set(key, SECRET_PARAMETERS.has(key) && value.length > 0 ? HIDDEN : value);
      }
    }
  } catch {
    // Redis is down: the proxy's parameters are still worth answering.
  }
  return found;
}

export const configCommand: CommandSpec = command({
  name: 'config',
  arity: -2,
  group: 'server',
  since: '2.0.0',
  summary: "CONFIG GET answers Redis's parameters and the proxy's; the other subcommands go to Redis.",
  subcommands: [
    command({
      name: 'config|get',
      arity: -3,
      flags: ['admin', 'noscript', 'loading', 'stale'],
      aclCategories: ['@admin', '@slow', '@dangerous'],
      group: 'server',
      since: '2.0.0',
      summary: 'Returns the effective values of configuration parameters.',
      complexity: 'O(N) when N is the number of configuration parameters provided',
      arguments: [{ name: 'parameter', type: 'string', multiple: true }],
      handler: async ({ proxy, client }, args) => {
        const found = await backendParameters(proxy, client.db, args.slice(2));
        // Case is ignored, as Redis's CONFIG GET does; globs in bounded time (glob.ts).
        const matchers = args.slice(2).map((pattern) => compileGlob(pattern, { nocase: true }));
        for (const [name, value] of proxyParameters(proxy)) {
          if (matchers.some((matches) => matches(Buffer.from(name, 'latin1')))) found.set(name, value);
        }
        return found;
      },
    }),
  ],
});
