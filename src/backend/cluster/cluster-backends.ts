// Owns a Redis Cluster behind the proxy: one set of backend connections per master, the slot map, and routing every command (and every cache fill) to the master of its keys' slot.
import { hostPort } from '../../address.ts';
import { commandKeys } from '../../commands/routing.ts';
import type { Config } from '../../config.ts';
import { BackendReplyError, BackendUnavailableError, CommandError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { encodeCommand } from '../../resp/command-encoder.ts';
import type { ProtocolVersion } from '../../resp/reply.ts';
import { parseReply } from '../../resp/reply-reader.ts';
import type { Stats } from '../../stats.ts';
import { type Backends, createBackends, type InvalidationEvents, type PinnedSessions } from '../backends.ts';
import type { PinnedConnection } from '../pinned-connection.ts';
import type { Backend, Fill, TrackingState } from '../redis-backend.ts';
import { CROSSSLOT, errorText, type Redirect, keySlot, parseClusterSlots, redirectOf, SLOT_COUNT, slotOfKeys, splitAddress } from './slot-map.ts';
import { FAN_OUT, SPLIT, type SpreadTarget } from './spread.ts';

/** Redirections followed for one command before its last answer is relayed as it is. */
const MAX_REDIRECTS = 5;
/** The slot map is read again this often even when nothing suggests it changed (as ioredis's slotsRefreshInterval). */
const REFRESH_EVERY_MS = 5000;
/** A refresh asked for by a failure waits this long after the previous one, so a burst of failures asks once. */
const REFRESH_GAP_MS = 100;
/** TRYAGAIN (keys of one command split between the two ends of a migrating slot) is retried after this. */
const TRYAGAIN_DELAY_MS = 50;

const CLUSTER_SLOTS = encodeCommand(['CLUSTER', 'SLOTS']);
const ASKING = encodeCommand(['ASKING']);
const CROSSSLOT_FRAME = Buffer.from(`-${CROSSSLOT}\r\n`);
const NO_TTL = Buffer.from(':0\r\n');

/** Where a redirection sends: its address, whose host may be left out (`:7002`) to mean the host of the node asked. */
const redirectedTo = (redirect: Redirect, asked: string) =>
  redirect.address.startsWith(':') ? hostPort(splitAddress(asked).host, Number(redirect.address.slice(1))) : redirect.address;

const lower = (arg: Buffer) => arg.toString('latin1').toLowerCase();
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A cluster node's connections: the same set a single Redis gets (fill with tracking, shared, pinned). */
interface Node {
  readonly address: string;
  readonly backends: Backends;
}

export function createClusterBackends(config: Config, stats: Stats, events: InvalidationEvents, log: Logger): Backends {
  const seeds = config.clusterNodes!;
  const label = `Redis Cluster (${seeds.join(',')})`;
  const nodes = new Map<string, Node>();
  /** Slot → the address of the master serving it; undefined until known. */
  let owners: (string | undefined)[] = new Array<string | undefined>(SLOT_COUNT).fill(undefined);
  let masters: string[] = [];
  let lastFailure = 'the slot map was not read yet';
  let closed = false;
  let refreshing: Promise<void> | undefined;
  let refreshedAt = 0;
  let refreshTimer: NodeJS.Timeout | undefined;

  const nodeEvents: InvalidationEvents = {
    onInvalidate: (keys) => events.onInvalidate(keys),
    onTrackingLost(reason) {
      events.onTrackingLost(reason);
      // A master's tracked connection lost: it may be gone for good (a failover), so ask who serves its slots now.
      requestRefresh();
    },
  };

  function node(address: string): Node {
    let found = nodes.get(address);
    if (found === undefined) {
      const { host, port } = splitAddress(address);
      found = { address, backends: createBackends({ ...config, backend: { ...config.backend, host, port } }, stats, nodeEvents, log) };
      nodes.set(address, found);
    }
    return found;
  }

  /** Reads CLUSTER SLOTS from the masters known, then the seeds, until one answers; the map is replaced whole. */
  function refresh(): Promise<void> {
    refreshing ??= (async () => {
      const candidates = [...new Set([...masters, ...seeds, ...nodes.keys()])];
      for (const address of candidates) {
        if (closed) return;
        try {
          const frame = await node(address).backends.forward(2, 0, CLUSTER_SLOTS);
          const parsed = parseClusterSlots(parseReply(frame), splitAddress(address).host);
          if (typeof parsed === 'string') {
            lastFailure = `${address} answered CLUSTER SLOTS with ${parsed}`;
            continue;
          }
          if (parsed.every((owner) => owner === undefined)) {
            lastFailure = `${address} serves no slot yet (is the cluster created?)`;
            continue;
          }
          apply(parsed);
          return;
        } catch (err) {
          const message = (err as Error).message;
          // The node's own error names it already: its reason alone, after the address.
          lastFailure = `${address}: ${/ is unavailable \((.*)\)$/.exec(message)?.[1] ?? message}`;
        }
      }
    })().finally(() => {
      refreshing = undefined;
      refreshedAt = performance.now();
    });
    return refreshing;
  }

  /** A refresh soon, not more often than REFRESH_GAP_MS. */
  function requestRefresh(): void {
    if (closed || refreshing !== undefined || refreshTimer !== undefined) return;
    const wait = Math.max(0, refreshedAt + REFRESH_GAP_MS - performance.now());
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined;
      void refresh();
    }, wait);
    refreshTimer.unref();
  }

  /** A new slot map: nodes that no longer serve a slot are let go, and with them what the cache read from them. */
  function apply(next: (string | undefined)[]): void {
    const before = masters.join(',');
    owners = next;
    masters = [...new Set(next.filter((a): a is string => a !== undefined))].sort();
    for (const address of masters) node(address);
    const retired = [...nodes.keys()].filter((address) => !masters.includes(address));
    for (const address of retired) {
      const gone = nodes.get(address)!;
      nodes.delete(address);
      void gone.backends.close();
    }
    if (masters.join(',') !== before) {
      log.info(`${label}: masters are ${masters.join(', ')}`, { event: 'cluster_topology', masters });
      // A node that stopped being a master (failed over, demoted) may not report what changes from now on.
      if (before !== '' && retired.length > 0) events.onTrackingLost(`${retired.join(', ')} no longer a master`);
    }
  }

  const unavailable = () =>
    new BackendUnavailableError(`backend ${label} is unavailable (${masters.length === 0 ? lastFailure : 'no master serves this hash slot'})`);

  /** Where `slot` is served; undefined while no master is known for it (a refresh is under way). */
  function ownerOf(slot: number): string | undefined {
    const owner = owners[slot];
    if (owner === undefined) requestRefresh();
    return owner;
  }

  /**
   * Sends `frame` to `address` (after ASKING when `asking`) and follows what Redis answers instead of
   * a reply: MOVED (the slot's map entry is corrected and the map read again), ASK (this command
   * alone goes to the slot's importing node), TRYAGAIN (keys split mid-migration: again, shortly).
   */
  async function sendTo(address: string, protocol: ProtocolVersion, frame: string, slot: number | undefined, hops = 0, asking = false): Promise<Buffer> {
    let reply: Buffer;
    try {
      reply = await (asking ? sendAsking(address, frame, protocol) : node(address).backends.forward(protocol, 0, frame));
    } catch (err) {
      if (err instanceof BackendUnavailableError) requestRefresh();
      throw err;
    }
    if (reply[0] !== 0x2d /* - */ || hops >= MAX_REDIRECTS) return reply;
    const text = errorText(reply);
    const redirect = redirectOf(text);
    if (redirect !== undefined) {
      const to = redirectedTo(redirect, address);
      if (redirect.kind === 'moved') moved(redirect.slot, to);
      return sendTo(to, protocol, frame, slot, hops + 1, redirect.kind === 'ask');
    }
    if (text.startsWith('TRYAGAIN') && slot !== undefined) {
      await delay(TRYAGAIN_DELAY_MS);
      const owner = ownerOf(slot);
      return owner === undefined ? reply : sendTo(owner, protocol, frame, slot, hops + 1);
    }
    if (text.startsWith('CLUSTERDOWN')) requestRefresh();
    return reply;
  }

  /** MOVED: the slot is served by `to` from now on; the rest of the map is read again soon. */
  function moved(slot: number, to: string): void {
    owners[slot] = to;
    if (!masters.includes(to)) masters = [...masters, to].sort();
    requestRefresh();
  }

  function toSlot(slot: number, protocol: ProtocolVersion, frame: string): Promise<Buffer> {
    const owner = ownerOf(slot);
    return owner === undefined ? Promise.reject(unavailable()) : sendTo(owner, protocol, frame, slot);
  }

  /** A command with no key: to the first master (INFO, CONFIG GET, PUBLISH — which a cluster passes to every node). */
  function toAnyMaster(protocol: ProtocolVersion, frame: string): Promise<Buffer> {
    const first = masters[0];
    if (first === undefined) {
      requestRefresh();
      return Promise.reject(unavailable());
    }
    return sendTo(first, protocol, frame, undefined);
  }

  const spreadTarget: SpreadTarget = {
    toSlot,
    toMaster: (address, protocol, frame) => sendTo(address, protocol, frame, undefined),
    masters: () => masters,
  };

  function forward(protocol: ProtocolVersion, _db: number, frame: string, args?: readonly Buffer[]): Promise<Buffer> {
    if (args === undefined) return toAnyMaster(protocol, frame);
    const name = lower(args[0]!);
    const fanOut = FAN_OUT.get(args.length > 1 && (name === 'script' || name === 'function' || name === 'config') ? `${name}|${lower(args[1]!)}` : name);
    if (fanOut !== undefined) return masters.length === 0 ? toAnyMaster(protocol, frame) : fanOut(args, protocol, spreadTarget);
    const keys = commandKeys(args, table());
    if (keys === null || keys.length === 0) return toAnyMaster(protocol, frame);
    const slot = slotOfKeys(keys)!;
    if (slot >= 0) return toSlot(slot, protocol, frame);
    const split = SPLIT.get(name);
    return split !== undefined ? split(args, protocol, spreadTarget) : Promise.resolve(CROSSSLOT_FRAME);
  }

  const table = () => {
    for (const address of masters) {
      const known = nodes.get(address)?.backends.table();
      if (known !== undefined) return known;
    }
    return undefined;
  };

  const masterBackends = () => masters.map((address) => nodes.get(address)?.backends).filter((b): b is Backends => b !== undefined);

  /**
   * `frame` after ASKING, on `address`'s shared connection: both in the same turn, so they leave together,
   * adjacent on the connection, as ASKING must be. (A fill redirected so is answered but not cached: TTL 0.)
   */
  function sendAsking(address: string, frame: string, protocol: ProtocolVersion): Promise<Buffer> {
    const target = node(address).backends;
    void target.forward(protocol, 0, ASKING).catch(() => {});
    return target.forward(protocol, 0, frame);
  }

  const fill: Backend = {
    address: label,
    get(key, db, onValue) {
      const slot = keySlot(key);
      const attempt = (address: string | undefined, hops: number): Promise<[Buffer | null, Buffer | null]> => {
        if (address === undefined) return Promise.reject(unavailable());
        return node(address)
          .backends.fill.get(key, db, onValue)
          .catch(async (err: unknown) => {
            if (err instanceof BackendUnavailableError) requestRefresh();
            const redirect = err instanceof BackendReplyError && hops < MAX_REDIRECTS ? redirectOf(err.message) : undefined;
            if (redirect === undefined) throw err;
            const to = redirectedTo(redirect, address);
            if (redirect.kind === 'moved') {
              moved(redirect.slot, to);
              return attempt(to, hops + 1);
            }
            const reply = await sendAsking(to, `*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`, 2);
            if (reply[0] === 0x2d) throw new BackendReplyError(errorText(reply));
            const value = reply[1] === 0x2d ? null : reply.subarray(reply.indexOf(10) + 1, reply.length - 2);
            return [value, NO_TTL];
          });
      };
      return attempt(ownerOf(slot), 0);
    },
    read(frame, db, keys) {
      const slot = slotOfKeys(keys) ?? 0;
      const owner = slot >= 0 ? ownerOf(slot) : undefined;
      if (owner === undefined) {
        const failed = Promise.reject(slot < 0 ? new BackendReplyError(CROSSSLOT) : unavailable());
        return { value: failed, ttlMs: failed.then(() => -1) };
      }
      const first = node(owner).backends.fill.read(frame, db, keys);
      let settled: Fill<Buffer> = first;
      const value = first.value.then(async (reply) => {
        const redirect = reply[0] === 0x2d ? redirectOf(errorText(reply)) : undefined;
        if (redirect === undefined) return reply;
        const to = redirectedTo(redirect, owner);
        if (redirect.kind === 'moved') {
          moved(redirect.slot, to);
          settled = node(to).backends.fill.read(frame, db, keys);
          return settled.value;
        }
        settled = { value: Promise.resolve(reply), ttlMs: Promise.resolve(0) };
        return sendAsking(to, frame, 3);
      });
      const ttlMs = value.then(() => settled.ttlMs);
      return { value, ttlMs };
    },
    async control(frame, address) {
      if (address !== undefined) return node(address).backends.fill.control(frame);
      // SCRIPT KILL, FUNCTION KILL: whichever master runs the script; FUNCTION STATS: the first master's.
      const replies = await Promise.all(masterBackends().map((b) => b.fill.control(frame)));
      if (replies.length === 0) throw unavailable();
      return replies.find((r) => !errorText(r).startsWith('NOTBUSY')) ?? replies[0]!;
    },
    get cachesReads() {
      const all = masterBackends();
      return all.length > 0 && all.every((b) => b.fill.cachesReads);
    },
    isReady() {
      const all = masterBackends();
      return all.length > 0 && all.every((b) => b.fill.isReady());
    },
    get unavailableReason() {
      if (masters.length === 0) return lastFailure;
      return masterBackends().find((b) => !b.fill.isReady())?.fill.unavailableReason ?? '';
    },
    get tracking(): TrackingState {
      const all = masterBackends();
      if (all.length === 0) return config.cacheInvalidation === 'tracking' ? 'starting' : 'disabled';
      return all.find((b) => b.fill.tracking !== 'on')?.fill.tracking ?? 'on';
    },
    get trackingReason() {
      const off = masterBackends().find((b) => b.fill.tracking !== 'on');
      return off === undefined ? '' : `${off.fill.address}: ${off.fill.trackingReason}`;
    },
    barrier: () => Promise.all(masterBackends().map((b) => b.fill.barrier())).then(() => {}),
    async waitReady(ms) {
      const until = performance.now() + ms;
      while (performance.now() < until && !closed) {
        if (masters.length === 0) await Promise.race([refresh(), delay(until - performance.now())]);
        const all = masterBackends();
        if (all.length > 0) {
          const ready = await Promise.all(all.map((b) => b.fill.waitReady(Math.max(1, until - performance.now()))));
          if (ready.every(Boolean)) return true;
        } else await delay(Math.min(100, Math.max(1, until - performance.now())));
      }
      return fill.isReady();
    },
    close: () => Promise.resolve(),
  };

  /** Which node's pool a session's connection came from, to give it back there. */
  const poolOf = new WeakMap<PinnedConnection, Backends['pinned']>();
  const pinned: PinnedSessions = {
    get open() {
      let open = 0;
      for (const { backends } of nodes.values()) open += backends.pinned.open;
      return open;
    },
    acquire(owner, protocol, db, slot) {
      const address = slot === undefined ? masters[0] : ownerOf(slot);
      if (address === undefined) return new CommandError(unavailable().message);
      const pool = node(address).backends.pinned;
      const connection = pool.acquire(owner, protocol, db, slot);
      if (!(connection instanceof CommandError)) poolOf.set(connection, pool);
      return connection;
    },
    release(owner, connection, clean) {
      const pool = poolOf.get(connection);
      if (pool !== undefined) pool.release(owner, connection, clean);
      else connection.close();
    },
    forget(owner) {
      for (const { backends } of nodes.values()) backends.pinned.forget(owner);
    },
    close() {
      for (const { backends } of nodes.values()) backends.pinned.close();
    },
  };

  void refresh();
  const periodic = setInterval(() => void refresh(), REFRESH_EVERY_MS);
  periodic.unref();

  return {
    fill,
    forward,
    pinned,
    clustered: true,
    table,
    databases: () => 1,
    async close() {
      closed = true;
      clearInterval(periodic);
      clearTimeout(refreshTimer);
      await Promise.all([...nodes.values()].map(({ backends }) => backends.close()));
      nodes.clear();
    },
  };
}
