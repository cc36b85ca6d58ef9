// Owns finding the master through Redis Sentinel: asking the sentinels where it is, checking that it is a master, and hearing of switches.
import { Redis, type RedisOptions } from 'ioredis';
import { hostPort } from '../address.ts';
import type { BackendTarget, SentinelConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Address, Locator } from './connection.ts';
import { backendTlsOptions } from './tls-options.ts';

/**
 * Where the master is, for every backend connection (a Locator), and when it moves. Talking to the
 * sentinels is ioredis's job, not a client of our own: these are a few commands and one subscription
 * per sentinel, far off the hot path, and ioredis's reconnecting and resubscribing are what we would
 * otherwise have to write and get right. The data connections stay the proxy's own (client.ts).
 */
export interface Sentinel extends Locator {
  /**
   * Subscribes to +switch-master on every sentinel. `onSwitch` runs once per move of the master, with
   * the new address already what locate() answers: it moves the connections and flushes the cache.
   */
  watch(onSwitch: (to: Address, reason: string) => void): void;
  close(): Promise<void>;
}

export interface SentinelOptions {
  config: SentinelConfig;
  /** The master's login, database and TLS (REDIS_URL), to check its ROLE as the data connections would log in. */
  target: BackendTarget;
  /** Milliseconds a connect or a command to a sentinel or to the master may take (REDIS_TIMEOUT). */
  timeoutMs: number;
  log: Logger;
}

/**
 * An address confirmed this recently is given again without asking after a loss. Every connection
 * that a switch ended reconnects at once, and the address the switch named is the one to use; a master
 * that dies is only failed over after the sentinels' down-after-milliseconds, longer than this.
 */
const FRESH_MS = 1000;
const SWITCH_CHANNEL = '+switch-master';

/** ROLE's first element: 'master', 'slave' (Redis's word for a replica) or 'sentinel'. */
const roleReply = (reply: unknown): string => (Array.isArray(reply) && reply[0] !== undefined ? String(reply[0]) : String(reply));

const same = (a: Address | undefined, b: Address) => a !== undefined && a.host === b.host && a.port === b.port;

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function createSentinel({ config, target, timeoutMs, log }: SentinelOptions): Sentinel {
  const { masterName, sentinels } = config;
  const name = `sentinel://${masterName}`;
  // One-shot connections: no reconnect and no retry (the caller goes on to the next sentinel), no CLIENT SETINFO, bounded by REDIS_TIMEOUT.
  const oneShot: RedisOptions = {
    protocol: 2,
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    disableClientInfo: true,
  };
  const toSentinel = (s: Address): RedisOptions => ({ host: s.host, port: s.port, password: config.password });

  let master: Address | undefined;
  /**
   * The highest configuration epoch a sentinel answered with. Sentinels that missed a failover still
   * name the old master with the old epoch, and after a clean failover that node stays a master for a
   * while before it is demoted: an answer older than what was seen is not believed.
   */
  let epoch = -1;
  let confirmedAt = -Infinity;
  let lookup: Promise<Address> | undefined;
  // The sentinel that answered last is asked first next time.
  let first = 0;
  let closed = false;
  let onSwitch: ((to: Address, reason: string) => void) | undefined;
  const subscribers: Redis[] = [];

  /** Runs `commands` on a fresh connection to `options`' server, and closes it. */
  async function ask(options: RedisOptions, ...commands: string[][]): Promise<unknown[]> {
    const client = new Redis({ ...oneShot, ...options });
    // The socket's own error (ECONNREFUSED, ETIMEDOUT) says more than ioredis's "Connection is closed.".
    let failure: Error | undefined;
    client.on('error', (err: Error) => (failure ??= err));
    try {
      await client.connect();
      return await Promise.all(commands.map(([name, ...args]) => client.call(name!, ...args)));
    } catch (err) {
      throw failure ?? err;
    } finally {
      client.disconnect();
    }
  }

  /** '' when `address` is a master, as the data connections log in to it; else why it cannot be used. */
  async function refusal(address: Address): Promise<string> {
    const at = { ...target, ...address };
    try {
      const tls = target.tls ? { tls: backendTlsOptions(at) } : {};
      const [role] = await ask({ host: at.host, port: at.port, username: target.username, password: target.password, ...tls }, ['ROLE']);
      // After a failover the old master comes back as a replica of the new one: writes there would be refused.
      const word = roleReply(role);
      return word === 'master' ? '' : `it is a ${word === 'slave' ? 'replica' : word}, not a master`;
    } catch (err) {
      const message = messageOf(err);
      // An ACL user not allowed ROLE is still served: its role cannot be checked, and the sentinel's word stands.
      if (/^(NOPERM|ERR unknown command)/.test(message)) return '';
      return err instanceof Error && err.name === 'ReplyError' ? `it refused ROLE (${message})` : `it cannot be reached (${message})`;
    }
  }

  /** The master is now `to`: remember it, and when it moved, tell the watcher (once per move). */
  function confirm(to: Address, how: string): void {
    confirmedAt = performance.now();
    const from = master;
    if (same(from, to)) return;
    master = to;
    if (from === undefined) {
      log.info(`sentinel: master ${masterName} is at ${hostPort(to.host, to.port)}`, {
        event: 'sentinel_master',
        master: masterName,
        address: hostPort(to.host, to.port),
      });
      return;
    }
    const [old, now] = [hostPort(from.host, from.port), hostPort(to.host, to.port)];
    log.info(`sentinel: master ${masterName} moved from ${old} to ${now} (${how}); the cache is flushed`, {
      event: 'sentinel_switch',
      master: masterName,
      from: old,
      to: now,
      how,
    });
    onSwitch?.(to, `master ${masterName} moved from ${old} to ${now}`);
  }

  /**
   * Asks the sentinels in turn, from the `start`-th, until one names an address that is a master, with
   * a configuration epoch no older than one seen before: the master's address (get-master-addr-by-name,
   * which names the promoted replica already during a failover) and the epoch (SENTINEL MASTER).
   */
  async function discover(start: number): Promise<{ address: Address; epoch: number }> {
    const failures: string[] = [];
    for (let i = 0; i < sentinels.length && !closed; i++) {
      const index = (start + i) % sentinels.length;
      const sentinel = sentinels[index]!;
      const at = `sentinel ${hostPort(sentinel.host, sentinel.port)}`;
      let replies: unknown[];
      try {
        replies = await ask(toSentinel(sentinel), ['SENTINEL', 'get-master-addr-by-name', masterName], ['SENTINEL', 'MASTER', masterName]);
      } catch (err) {
        const message = messageOf(err);
        failures.push(message.startsWith('ERR No such master') ? `${at} does not know master ${masterName}` : `${at}: ${message}`);
        continue;
      }
      const [addr, state] = replies;
      if (!Array.isArray(addr) || addr.length !== 2 || !Array.isArray(state)) {
        failures.push(`${at} does not know master ${masterName}`);
        continue;
      }
      const address = { host: String(addr[0]), port: Number(addr[1]) };
      const named = hostPort(address.host, address.port);
      const epochAt = state.findIndex((field) => String(field) === 'config-epoch');
      const theirs = epochAt < 0 ? 0 : Number(state[epochAt + 1]);
      if (theirs < epoch) {
        failures.push(`${at} named ${named}, but with configuration epoch ${theirs}, older than ${epoch}: it has not heard of a failover`);
        continue;
      }
      const why = await refusal(address);
      if (why !== '') {
        failures.push(`${at} named ${named}, but ${why}`);
        continue;
      }
      first = index;
      return { address, epoch: theirs };
    }
    throw new Error(`no master ${masterName} found through the sentinels (${closed ? 'the proxy is shutting down' : failures.join('; ')})`);
  }

  /**
   * A lookup, one at a time: connections that lose the master together share it. `start`, a sentinel
   * to ask first that announced a switch: a lookup then waits for the one under way, and starts anew
   * after it, since that one may have asked a sentinel that had not switched yet.
   */
  function lookUp(how: string, start?: number): Promise<Address> {
    if (lookup !== undefined && start === undefined) return lookup;
    const next = (lookup ?? Promise.resolve())
      .catch(() => {})
      .then(() => discover(start ?? first))
      .then((found) => {
        if (!closed) {
          epoch = Math.max(epoch, found.epoch);
          confirm(found.address, how);
        }
        return found.address;
      });
    lookup = next;
    next
      .finally(() => {
        if (lookup === next) lookup = undefined;
      })
      .catch(() => {});
    return next;
  }

  /**
   * A +switch-master from the `index`-th sentinel: `<name> <old ip> <old port> <new ip> <new port>`.
   * That sentinel is asked where the master is (with its epoch, and the new master's role checked), so
   * that the message and a lookup go through the same checks.
   */
  function heard(message: string, index: number): void {
    const parts = message.split(' ');
    if (parts.length !== 5 || parts[0] !== masterName || closed) return;
    const from = sentinels[index]!;
    lookUp(`${SWITCH_CHANNEL} from sentinel ${hostPort(from.host, from.port)}`, index).catch(() => {});
  }

  return {
    name,
    locate(again) {
      if (closed) return Promise.reject(new Error('the proxy is shutting down'));
      if (master !== undefined && (!again || performance.now() - confirmedAt < FRESH_MS)) return Promise.resolve(master);
      return lookUp('found by asking the sentinels');
    },
    watch(listener) {
      onSwitch = listener;
      for (const [index, sentinel] of sentinels.entries()) {
        const sub = new Redis({
          ...toSentinel(sentinel),
          protocol: 2,
          enableReadyCheck: false,
          disableClientInfo: true,
          connectTimeout: timeoutMs,
          maxRetriesPerRequest: null,
          // A sentinel that is down is tried again, at most every 2 s, for as long as the proxy runs.
          retryStrategy: (times) => Math.min(times * 100, 2000),
        });
        let lastError = '';
        let subscribed = false;
        sub.on('error', (err: Error) => {
          if (err.message === lastError) return;
          lastError = err.message;
          log.warn(`sentinel ${hostPort(sentinel.host, sentinel.port)}: ${err.message}`, {
            event: 'sentinel_unavailable',
            sentinel: hostPort(sentinel.host, sentinel.port),
            reason: err.message,
          });
        });
        sub.on('ready', () => {
          lastError = '';
          // Back after a loss: a switch announced meanwhile was missed, so ask where the master is now.
          if (subscribed && master !== undefined)
            lookUp(`found by asking sentinel ${hostPort(sentinel.host, sentinel.port)} when it came back`, index).catch(() => {});
          subscribed = true;
        });
        sub.on('message', (channel: string, message: string) => {
          if (channel === SWITCH_CHANNEL) heard(message, index);
        });
        // ioredis subscribes again on every reconnect (autoResubscribe).
        sub.subscribe(SWITCH_CHANNEL).catch(() => {});
        subscribers.push(sub);
      }
    },
    close() {
      closed = true;
      // disconnect(), not quit(): a sentinel that is down would keep QUIT waiting for a reconnect.
      for (const sub of subscribers) sub.disconnect();
      return Promise.resolve();
    },
  };
}
