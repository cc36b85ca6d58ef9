// Owns a worker process (WORKERS > 1): serves with the primary's settings, reports where it listens and its figures, and drains when the primary is gone.
import cluster from 'node:cluster';
import { FIGURES_INTERVAL_MS, type StartMessage, type ToPrimary, toWorker } from './cluster-messages.ts';
import { logUncaughtErrors, processLogger } from './log.ts';
import { createPeerDrops } from './peer-drops.ts';
import type { RunningProxy } from './proxy.ts';
import { serve } from './serve.ts';
import type { WorkerFigures } from './worker-figures.ts';

const send = (message: ToPrimary) => {
  // Gone: the 'disconnect' handler below is draining this worker.
  if (process.connected) process.send!(message);
};

/** The primary's start message, asked for once this process listens for it. */
function startMessage(): Promise<StartMessage> {
  return new Promise((resolve) => {
    const onMessage = (raw: unknown) => {
      const message = toWorker(raw);
      if (message?.kind !== 'start') return;
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
    send({ kind: 'ready' });
  });
}

export async function runWorker(): Promise<void> {
  const { id, count, config } = await startMessage();
  const log = processLogger(config, { worker: id });
  logUncaughtErrors(log);

  // The others' figures, replaced whole by each message: at most one entry per worker.
  let others = new Map<number, WorkerFigures>();
  const drops = createPeerDrops((seq, what) => send({ kind: 'drop', seq, what }), log);
  // The proxy once it serves: the primary sends drops only to workers that said they listen.
  const serving: { proxy?: RunningProxy } = {};
  process.on('message', (raw: unknown) => {
    const message = toWorker(raw);
    if (message?.kind === 'peers') others = new Map(message.workers.filter(([peer]) => peer !== id));
    else if (message?.kind === 'dropped') drops.droppedEverywhere(message.seq);
    else if (message?.kind === 'drop') {
      const { origin, seq } = message;
      // Not serving yet: the cache is empty, and nothing read before this moment can be in it.
      const done = serving.proxy === undefined ? Promise.resolve() : serving.proxy.dropForPeer(message.what);
      void done.then(() => send({ kind: 'dropped', origin, seq }));
    }
  });

  const { proxy, listening, drain } = await serve(Object.freeze(config), log, {
    id,
    count,
    others: () => others,
    afterWrite: (effect) => drops.afterWrite(effect),
  });
  serving.proxy = proxy;

  // node:cluster makes a worker whose primary is gone (killed, crashed) exit at once, dropping the replies it
  // owes. This one drains instead, as on SIGTERM, and then exits: no new connection can reach it (the primary
  // held the listening sockets), and nothing would restart or stop it. Node reads exitedAfterDisconnect right
  // after emitting 'disconnect' (test/e2e/workers.test.ts checks that the drain happens).
  const worker = cluster.worker!;
  worker.on('disconnect', () => {
    worker.exitedAfterDisconnect = true;
    log.warn('the primary process is gone: draining, then exiting', { event: 'primary_lost' });
    drain('primary gone');
  });

  send({ kind: 'listening', listening });
  send({ kind: 'figures', figures: proxy.figures() });
  setInterval(() => send({ kind: 'figures', figures: proxy.figures() }), FIGURES_INTERVAL_MS).unref();
}
