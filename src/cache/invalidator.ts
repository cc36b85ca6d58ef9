// Owns dropping what changed from the cache: on the proxy's own writes (before their replies are relayed) and on Redis's invalidations.
import type { Backend } from '../backend/redis-backend.ts';
import type { WriteEffect } from '../commands/routing.ts';
import type { Stats } from '../stats.ts';
import type { ReadThrough } from './read-through.ts';

export interface Invalidator {
  /**
   * A write through the proxy was acknowledged by Redis: drop what it changed. A promise when its
   * reply must wait for Redis's invalidations to arrive first (a write whose keys are not named).
   */
  afterWrite(effect: WriteEffect): void | Promise<void>;
  /** Redis's invalidation push: these keys changed, in some database; null: everything did. */
  fromRedis(keys: readonly Buffer[] | null): void;
  /** The tracked connection is gone, and with it whatever invalidations were on the way. */
  trackingLost(): void;
}

export function createInvalidator(readThrough: ReadThrough, backend: Pick<Backend, 'tracking' | 'barrier'>, stats: Stats): Invalidator {
  const dropKeys = (keys: readonly Buffer[]) => {
    for (const key of keys) readThrough.invalidate(key.latin1Slice(0, key.length));
  };
  return {
    afterWrite(effect) {
      if (effect === null) return;
      if (effect === 'unknown-keys' && backend.tracking === 'on') {
        // Redis invalidates every key the write changed, on the tracked connection, before it runs the
        // next command there: once a PING there is answered, those invalidations have been applied.
        stats.invalidationBarriers++;
        return backend.barrier();
      }
      if (effect === 'all' || effect === 'unknown-keys') {
        stats.flushesForWrites++;
        readThrough.clear();
        return;
      }
      stats.invalidatedKeys += effect.length;
      dropKeys(effect);
    },
    fromRedis(keys) {
      // Fetches under way are left alone: Redis sent this on their connection, before any reply it
      // computed after the change, so what they bring back is already newer than this news.
      stats.trackingInvalidations++;
      if (keys === null) {
        stats.flushesByRedis++;
        readThrough.clear(false);
        return;
      }
      stats.trackingInvalidatedKeys += keys.length;
      for (const key of keys) readThrough.invalidate(key.latin1Slice(0, key.length), false);
    },
    trackingLost() {
      stats.flushesForTrackingLost++;
      readThrough.clear();
    },
  };
}
