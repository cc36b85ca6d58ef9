// Owns the e2e tests' choice of target: their own Redis and proxy, or the running ones TEST_REDIS_URL, TEST_PROXY_RESP and TEST_PROXY_HTTP name.
import { randomBytes } from 'node:crypto';

export interface Address {
  readonly host: string;
  readonly port: number;
}

/** A Redis and a proxy in front of it that the tests did not start and must leave running. */
export interface ExternalTarget {
  readonly redisUrl: string;
  readonly resp: Address;
  readonly http: Address;
}

export const EXTERNAL_VARIABLES = ['TEST_REDIS_URL', 'TEST_PROXY_RESP', 'TEST_PROXY_HTTP'] as const;

/** `host:port` (`[v6]:port` for an IPv6 address), or an Error saying what was wrong. */
function address(name: string, raw: string, example: string): Address {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(raw);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) throw new Error(`${name} must be host:port (e.g. ${example}), got ${JSON.stringify(raw)}`);
  return { host: m[1] ?? m[2]!, port };
}

/**
 * The external target the environment names, or undefined when it names none. The three variables go
 * together: a proxy is only testable with the Redis behind it, to seed keys and count its reads.
 */
export function externalTarget(env: Readonly<Record<string, string | undefined>>): ExternalTarget | undefined {
  const given = EXTERNAL_VARIABLES.filter((name) => env[name]);
  if (given.length === 0) return undefined;
  if (given.length < EXTERNAL_VARIABLES.length) {
    const missing = EXTERNAL_VARIABLES.filter((name) => !env[name]);
    throw new Error(`${EXTERNAL_VARIABLES.join(', ')} go together (a proxy and the Redis behind it): ${given.join(', ')} set, ${missing.join(', ')} not`);
  }
  const redisUrl = env.TEST_REDIS_URL!;
  let url: URL | undefined;
  try {
    url = new URL(redisUrl);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'redis:' || !url.hostname) {
    throw new Error(`TEST_REDIS_URL must be redis://[:password@]host[:port][/db] (e.g. redis://redis:6379), got ${JSON.stringify(redisUrl)}`);
  }
  return Object.freeze({
    redisUrl,
    resp: Object.freeze(address('TEST_PROXY_RESP', env.TEST_PROXY_RESP!, 'proxy:6380')),
    http: Object.freeze(address('TEST_PROXY_HTTP', env.TEST_PROXY_HTTP!, 'proxy:5000')),
  });
}

/** The target of this test run: read once per test file, from the environment ava passes to its workers. */
export const EXTERNAL: ExternalTarget | undefined = externalTarget(process.env);

/** Told apart per test file (worker) and run. */
const RUN_ID = randomBytes(4).toString('hex');

/**
 * `name` made unique to this test file and run. A test that counts Redis's reads, or needs a key that no
 * proxy has cached yet, uses it: an external proxy's cache is shared by every file and outlives the run.
 */
export const freshKey = (name: string): string => `${name}@${RUN_ID}`;
