// Owns read-your-writes between workers (WORKERS > 1): a write's reply waits until every other worker has dropped what it changed.
import type { Dropped } from './cluster-messages.ts';
import type { WriteEffect } from './commands/routing.ts';
import type { Logger } from './log.ts';

/**
 * Redis tells each worker's tracked connection of a write, but may send the writer its reply first, and
 * a client told of the reply may read through another worker before that worker has read the news: in
 * a test 50 of 2000 such reads were stale for up to 5 ms. So a write's reply is relayed only once every
 * other worker has dropped its keys, through the primary. The writes of one event-loop turn share one
 * request. A worker that does not answer within this long is not waited for (it is stuck or dying, and
 * logged), so writes never hang on it.
 */
const ANSWER_WITHIN_MS = 1000;

export interface PeerDrops {
  /** A write was acknowledged: resolves once every other worker has dropped what it changed. */
  afterWrite(effect: Exclude<WriteEffect, null>): Promise<void>;
  /** The primary says every other worker dropped what request `seq` asked. */
  droppedEverywhere(seq: number): void;
}

interface Batch {
  keys: string[] | null;
  unnamed: boolean;
  readonly done: Promise<void>;
  readonly resolve: () => void;
}

export function createPeerDrops(send: (seq: number, what: Dropped) => void, log: Logger): PeerDrops {
  let seq = 0;
  let batch: Batch | undefined;
  const waiting = new Map<number, { resolve: () => void; timer: NodeJS.Timeout }>();

  function flush(): void {
    const { keys, unnamed, resolve } = batch!;
    batch = undefined;
    const id = ++seq;
    const timer = setTimeout(() => {
      waiting.delete(id);
      log.warn(`the other workers did not confirm dropping a write's keys within ${ANSWER_WITHIN_MS} ms; its reply goes anyway`, {
        event: 'peer_drop_timeout',
      });
      resolve();
    }, ANSWER_WITHIN_MS);
    waiting.set(id, { resolve, timer });
    send(id, { keys, unnamed });
  }

  return {
    afterWrite(effect) {
      if (batch === undefined) {
        let resolve!: () => void;
        const done = new Promise<void>((r) => (resolve = r));
        batch = { keys: [], unnamed: false, done, resolve };
        setImmediate(flush);
      }
      if (effect === 'all') batch.keys = null;
      else if (effect === 'unknown-keys') batch.unnamed = true;
      else if (batch.keys !== null) for (const key of effect) batch.keys.push(key.latin1Slice(0, key.length));
      return batch.done;
    },
    droppedEverywhere(id) {
      const entry = waiting.get(id);
      if (entry === undefined) return;
      waiting.delete(id);
      clearTimeout(entry.timer);
      entry.resolve();
    },
  };
}
