// Owns the cache's way to Redis: the connection that fills the cache, and Redis's invalidations of what it read (CLIENT TRACKING).
import type { BackendTarget } from '../config.ts';
import type { Logger } from '../log.ts';
import { parseReply, PushValue } from '../resp/reply-reader.ts';
import type { LatencyHistogram } from '../stats.ts';
import { PROXY_NAME } from '../version.ts';
import { ANY_DB } from './command-queue.ts';
import { type BackendClient, createBackendClient } from './client.ts';
import type { Locator, Retargetable } from './connection.ts';

/** Whether Redis tells the proxy when what it cached changes. */
export type TrackingState =
  /** CLIENT TRACKING is on for the fill connection: Redis's invalidations keep the cache coherent. */
  | 'on'
  /** The connection that was tracked is gone: the cache was flushed, and fills wait for the next one. */
  | 'lost'
  /** Redis refused it (older than 6, or an ACL user not allowed CLIENT): the cache relies on CACHE_EXPIRY. */
  | 'unavailable'
  /** CACHE_INVALIDATION=expiry: the operator chose expiry alone. */
  | 'disabled'
  /** Not connected yet. */
  | 'starting';

/**
 * A fill: what it read, and then for how long Redis keeps that. `ttlMs` settles after `value`, with
 * the PTTL Redis answered right behind the read on the same connection (the least over a read
 * command's keys), -1 when nothing read expires. A key that expires leaves Redis without a write,
 * and Redis tells the proxy only once it deletes the key (lazily on a read, which a cached key does
 * not get, or in its expiry cycle): the cache must let the entry go by then itself.
 */
export interface Fill<T> {
  readonly value: Promise<T>;
  readonly ttlMs: Promise<number>;
}

export interface Backend extends Omit<BackendClient, 'send' | 'sendRaw' | 'sendPair' | 'retarget'> {
  /**
   * The value of `key` (its bytes as a latin1 string) in database `db`, or null when Redis does not have
   * it, and its PTTL reply (ttlOf reads it): GET and PTTL in one write, answered together. `onValue` runs
   * as GET's reply is read, before anything read after it (an invalidation) is handled.
   */
  get(key: string, db: number, onValue: () => void): Promise<[Buffer | null, Buffer | null]>;
  /** A cached read command's reply, as the RESP3 frame Redis sent (errors too), and its keys' TTL. Only while `cachesReads`. */
  read(frame: string, db: number, keys: readonly string[]): Fill<Buffer>;
  /**
   * The connection speaks RESP3, so read commands other than GET can be cached: their replies are
   * kept in RESP3, which answers RESP2 clients too (resp3-to-resp2.ts), where RESP2 would not do
   * the reverse (a RESP2 array cannot say it was a map).
   */
  readonly cachesReads: boolean;
  /**
   * A command whose reply (the RESP3 frame) is wanted even while a script keeps Redis busy: this
   * connection never runs one, and sends it without a SELECT (Redis refuses SELECT while busy).
   * SCRIPT KILL, FUNCTION KILL, FUNCTION STATS, CLIENT UNBLOCK. `node` (`host:port`) names which of a
   * cluster's nodes it is for (CLIENT UNBLOCK of a connection there); one Redis ignores it.
   */
  control(frame: string, node?: string): Promise<Buffer>;
  readonly tracking: TrackingState;
  /** Why tracking is not on (Redis's refusal, the loss), for INFO and the logs. */
  readonly trackingReason: string;
  /**
   * Resolves once every invalidation Redis had sent when this was called has been handled: a PING on
   * the tracked connection, whose reply comes after them. Used after a write whose keys are unknown.
   */
  barrier(): Promise<void>;
}

export interface BackendOptions {
  target: BackendTarget;
  /** Where the backend is when its address can change (Sentinel). */
  locator?: Locator;
  /** Milliseconds a read may take from when it is queued (REDIS_TIMEOUT); also bounds a connect attempt. */
  timeoutMs: number;
  /** Most reads awaiting a reply at once (MAX_PARALLEL). */
  maxInFlight: number;
  /** Where each read's reply latency is counted. */
  latency: LatencyHistogram;
  /** CACHE_INVALIDATION: `tracking` asks Redis for invalidations; `expiry` relies on CACHE_EXPIRY alone. */
  invalidation: 'tracking' | 'expiry';
  /** Redis says these keys changed (in some database); null: everything did (FLUSHALL, FLUSHDB). */
  onInvalidate: (keys: Buffer[] | null) => void;
  /** The tracked connection is gone: invalidations may have been missed. */
  onTrackingLost: (reason: string) => void;
  log: Logger;
}

/**
 * Without traffic, the tracked connection is pinged this often: a connection that died silently (a
 * dropped route) would otherwise go unnoticed, and with it the invalidations it no longer brings.
 * It is then declared dead after REDIS_TIMEOUT without a byte.
 */
const HEARTBEAT_MS = 1000;
const PING = '*1\r\n$4\r\nPING\r\n';

/** PTTL `key` (one char per byte). Sent right behind a fill's read, on the same connection. */
const pttl = (key: string) => `*2\r\n$4\r\nPTTL\r\n$${key.length}\r\n${key}\r\n`;

/** PTTL's integer reply (`:1234`) as milliseconds; -1 (no expiry) and -2 (no key) both mean none. */
export function ttlOf(reply: unknown): number {
  const ms = reply instanceof Buffer ? Number(reply.latin1Slice(1, reply.length - 2)) : NaN;
  return ms >= 0 ? ms : -1;
}

/** The soonest expiry among keys' PTTL replies; -1 when none expires. */
function leastTtl(replies: readonly unknown[]): number {
  let least = -1;
  for (const reply of replies) {
    const ms = ttlOf(reply);
    if (ms >= 0 && (least < 0 || ms < least)) least = ms;
  }
  return least;
}

/**
 * The fill connection. Its GETs are reads, so they are retried when their connection dies. With
 * CACHE_INVALIDATION=tracking it speaks RESP3 and turns CLIENT TRACKING on, so Redis remembers every
 * key it read and pushes an invalidation on this same connection when one changes. Fills and
 * invalidations share one ordered stream: a reply that predates a change always arrives before the
 * change's invalidation, so an invalidation is never overtaken by the stale value it invalidates.
 */
export function createRedisBackend({
  target,
  locator,
  timeoutMs,
  maxInFlight,
  latency,
  invalidation,
  onInvalidate,
  onTrackingLost,
  log,
}: BackendOptions): Backend & Retargetable {
  let tracking: TrackingState = invalidation === 'tracking' ? 'starting' : 'disabled';
  let trackingReason = invalidation === 'tracking' ? 'not connected yet' : 'CACHE_INVALIDATION=expiry';
  // What this connection's handshake got: RESP3, and tracking.
  let resp3Refusal: string | undefined;
  let trackingRefusal: string | undefined;
  let warned = '';

  const client = createBackendClient({
    target,
    locator,
    protocol: 2,
    replies: 'value',
    name: PROXY_NAME,
    timeoutMs,
    maxInFlight,
    latency,
    logs: true,
    log,
    heartbeatMs: invalidation === 'tracking' ? HEARTBEAT_MS : undefined,
    optionalHandshake: [
      // Pushes need RESP3, and so do cached reads other than GET; a Redis older than 6 has no HELLO (and no tracking).
      { args: ['HELLO', '3'], onResult: (refusal) => (resp3Refusal = refusal) },
      ...(invalidation === 'tracking' ? [{ args: ['CLIENT', 'TRACKING', 'on'], onResult: (refusal: string | undefined) => (trackingRefusal = refusal) }] : []),
    ],
    onPush(frame) {
      const push = parseReply(frame);
      if (!(push instanceof PushValue) || !(push.items[0] instanceof Buffer) || push.items[0].toString() !== 'invalidate') return;
      const items = push.items[1];
      const keys = Array.isArray(items) ? items.filter((k): k is Buffer => k instanceof Buffer) : null;
      // In the order the connection brought it: replies read before this push have resolved their
      // fetches, but the fetches store what they read in promise reactions, which run later. Queued
      // behind those reactions, the invalidation comes after the stores it must undo.
      queueMicrotask(() => onInvalidate(keys));
    },
    onState(ready, reason) {
      if (invalidation !== 'tracking') return;
      if (!ready) {
        if (tracking !== 'on') return;
        tracking = 'lost';
        trackingReason = `the tracked connection was lost (${reason})`;
        onTrackingLost(reason);
        return;
      }
      const refusal = resp3Refusal ?? trackingRefusal;
      if (refusal === undefined) {
        tracking = 'on';
        trackingReason = '';
        if (warned !== '') log.info(`backend ${client.address}: CLIENT TRACKING is on again`, { event: 'tracking_on', backend: client.address });
        warned = '';
        return;
      }
      tracking = 'unavailable';
      trackingReason = `Redis refused ${resp3Refusal !== undefined ? 'HELLO 3' : 'CLIENT TRACKING on'}: ${refusal}`;
      if (warned !== trackingReason) {
        warned = trackingReason;
        log.warn(
          `backend ${client.address}: ${trackingReason}. The cache cannot hear of writes made by others and relies on CACHE_EXPIRY alone; ` +
            'set CACHE_INVALIDATION=expiry to say that is intended',
          { event: 'tracking_unavailable', backend: client.address, reason: refusal },
        );
      }
    },
  });

  return {
    get address() {
      return client.address;
    },
    retarget: (address, reason) => client.retarget(address, reason),
    // Promises straight from the connection's queue: whoever awaits `value` runs before anything the
    // connection reads after the reply (an invalidation) is handled (see onPush).
    get: (key, db, onValue) => client.sendPair(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n${pttl(key)}`, db, onValue),
    read: (frame, db, keys) => ({
      value: client.sendRaw(frame, true, db),
      ttlMs: Promise.all(keys.map((key) => client.send(pttl(key), true, db, false))).then(leastTtl),
    }),
    control: (frame) => client.sendRaw(frame, false, ANY_DB),
    get cachesReads() {
      return client.isReady() && resp3Refusal === undefined;
    },
    isReady: () => client.isReady(),
    get unavailableReason() {
      return client.unavailableReason;
    },
    get tracking() {
      return tracking;
    },
    get trackingReason() {
      return trackingReason;
    },
    barrier: () =>
      client.send(PING, true, ANY_DB).then(
        () => {},
        () => {},
      ),
    waitReady: (ms) => client.waitReady(ms),
    close: () => client.close(),
  };
}
