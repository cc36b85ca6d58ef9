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

/** The sentinel's own answers are 'master', 'slave' (Redis's word in ROLE), 'sentinel'. */
const roleReply = (reply: unknown): string => (Array.isArray(reply) && reply[0] !== undefined ? String(reply[0]) : String(reply));

const same = (a: Address | undefined, b: Address) => a !== undefined && a.host === b.host && a.port === b.port;

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function createSentinel({ config, target, timeoutMs, log }: SentinelOptions): Sentinel {
  const { masterName, sentinels } = config;
  const name = `sentinel://${masterName}`;
  // One-shot connections: no retries (the caller goes on to the next sentinel), no offline queue, no CLIENT SETINFO.
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
  let confirmedAt = -Infinity;
  let lookup: Promise<Address> | undefined;
  // The sentinel that answered last is asked first next time.
  let first = 0;
  let closed = false;
  let onSwitch: ((to: Address, reason: string) => void) | undefined;
  const subscribers: Redis[] = [];

  /** Runs `command` on a fresh connection to `options`' server, and closes it. */
  async function ask(options: RedisOptions, command: string[]): Promise<unknown> {
    const client = new Redis({ ...oneShot, ...options });
    // The socket's own error (ECONNREFUSED, ETIMEDOUT) says more than ioredis's "Connection is closed.".
    let failure: Error | undefined;
    client.on('error', (err: Error) => (failure ??= err));
    try {
      await client.connect();
      return await client.call(command[0]!, ...command.slice(1));
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
      const role = roleReply(await ask({ host: at.host, port: at.port, username: target.username, password: target.password, ...tls }, ['ROLE']));
      // After a failover the old master comes back as a replica of the new one: writes there would be refused.
      return role === 'master' ? '' : `it is a ${role === 'slave' ? 'replica' : role}, not a master`;
    } catch (err) {
      return `it cannot be reached (${messageOf(err)})`;
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

  /** Asks the sentinels in turn until one names an address that is a master. */
  async function discover(): Promise<Address> {
    const failures: string[] = [];
    for (let i = 0; i < sentinels.length && !closed; i++) {
      const index = (first + i) % sentinels.length;
      const sentinel = sentinels[index]!;
      const at = `sentinel ${hostPort(sentinel.host, sentinel.port)}`;
      let reply: unknown;
      try {
        reply = await ask(toSentinel(sentinel), ['SENTINEL', 'get-master-addr-by-name', masterName]);
      } catch (err) {
        failures.push(`${at}: ${messageOf(err)}`);
        continue;
      }
      if (!Array.isArray(reply) || reply.length !== 2) {
        failures.push(`${at} does not know master ${masterName}`);
        continue;
      }
      const address = { host: String(reply[0]), port: Number(reply[1]) };
      const why = await refusal(address);
      if (why !== '') {
        failures.push(`${at} named ${hostPort(address.host, address.port)}, but ${why}`);
        continue;
      }
      first = index;
      return address;
    }
    throw new Error(`no master ${masterName} found through the sentinels (${closed ? 'the proxy is shutting down' : failures.join('; ')})`);
  }

  /** One lookup at a time: connections that lose the master together share it. */
  function lookUp(how: string): Promise<Address> {
    lookup ??= discover()
      .then((address) => {
        if (!closed) confirm(address, how);
        return address;
      })
      .finally(() => (lookup = undefined));
    return lookup;
  }

  /** A +switch-master from a sentinel: `<name> <old ip> <old port> <new ip> <new port>`. */
  function heard(message: string, from: Address): void {
    const parts = message.split(' ');
    if (parts.length !== 5 || parts[0] !== masterName) return;
    const to = { host: parts[3]!, port: Number(parts[4]) };
    if (!Number.isInteger(to.port) || closed) return;
    confirm(to, `${SWITCH_CHANNEL} from sentinel ${hostPort(from.host, from.port)}`);
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
      for (const sentinel of sentinels) {
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
          if (subscribed && master !== undefined) lookUp('found by asking the sentinels after a sentinel came back').catch(() => {});
          subscribed = true;
        });
        sub.on('message', (channel: string, message: string) => {
          if (channel === SWITCH_CHANNEL) heard(message, sentinel);
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
