// Owns the primary process (WORKERS > 1): starts the workers, restarts one that dies, says once where they listen, passes their figures round, and stops them all on SIGTERM or SIGINT.
import cluster, { type Worker } from 'node:cluster';
import { type Dropped, FIGURES_INTERVAL_MS, type ToWorker, toPrimary } from './cluster-messages.ts';
import type { Config } from './config.ts';
import { type Listening, logListening } from './listening.ts';
import { onStopSignals } from './stop-signals.ts';
import type { Logger } from './log.ts';
import type { WorkerFigures } from './worker-figures.ts';

/** The wait before a dead worker's replacement starts: doubled for each death in a row, up to the maximum. */
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that served this long before it died was not crash-looping: its replacement starts after the minimum wait. */
const STABLE_MS = 30_000;

/** One of the WORKERS places: the process in it now, and how its predecessors fared. */
interface Slot {
  readonly id: number;
  worker: Worker | undefined;
  startedAt: number;
  /** Deaths in a row of workers that lived less than STABLE_MS. */
  failures: number;
  /** Its latest report; undefined until the worker in it sends one. */
  figures: WorkerFigures | undefined;
  /** The worker in it serves (said `listening`): others' writes are dropped from its cache. */
  serving: boolean;
  restart: NodeJS.Timeout | undefined;
}

/**
 * Supervises; serves nothing itself. node:cluster's primary holds the listening sockets and hands each
 * accepted connection to a worker in turn (round-robin), so every worker shares RESP_PORT, PROXY_PORT and
 * TLS_PORT, port 0 included.
 */
export function runPrimary(config: Config, log: Logger): void {
  const count = config.workers;
  const slots = Array.from({ length: count }, (_, i): Slot => ({
    id: i + 1,
    worker: undefined,
    startedAt: 0,
    failures: 0,
    figures: undefined,
    serving: false,
    restart: undefined,
  }));
  /** Drop requests under way, by `origin:seq`: the requester, and the workers that have not yet dropped. */
  const drops = new Map<string, { readonly origin: Slot; readonly worker: Worker; readonly seq: number; readonly pending: Set<number> }>();
  /** Until every first worker listens, a death is a failure to start, not a crash to recover from. */
  let started = false;
  const listening = new Set<number>();
  let stoppingSince: number | undefined;
  let exitCode = 0;

  const send = (worker: Worker, message: ToWorker) => {
    if (worker.isConnected()) worker.send(message);
  };
  const live = () => slots.filter((slot) => slot.worker !== undefined);

  function fork(slot: Slot): void {
    slot.restart = undefined;
    const worker = cluster.fork();
    slot.worker = worker;
    slot.startedAt = performance.now();
    worker.on('message', (raw: unknown) => {
      const message = toPrimary(raw);
      if (message?.kind === 'figures') slot.figures = message.figures;
      else if (message?.kind === 'listening') onListening(slot, worker, message.listening);
      else if (message?.kind === 'drop') onDrop(slot, worker, message.seq, message.what);
      else if (message?.kind === 'dropped') onDropped(slot.id, `${message.origin}:${message.seq}`);
      // The settings the primary loaded, so that a worker started in a week serves what this one does,
      // even if .config changed meanwhile.
      else if (message?.kind === 'ready') send(worker, { kind: 'start', id: slot.id, count, config });
    });
    worker.on('exit', (code, signal) => onExit(slot, worker, code, signal));
  }

  /** A worker relays writes: every other serving worker drops what they changed, then the writer hears so. */
  function onDrop(origin: Slot, worker: Worker, seq: number, what: Dropped): void {
    const others = live().filter((slot) => slot !== origin && slot.serving);
    if (others.length === 0) return send(worker, { kind: 'dropped', seq });
    drops.set(`${origin.id}:${seq}`, { origin, worker, seq, pending: new Set(others.map((slot) => slot.id)) });
    for (const slot of others) send(slot.worker!, { kind: 'drop', origin: origin.id, seq, what });
  }

  /** Worker `id` dropped what request `key` asked (or is gone, and its cache with it). */
  function onDropped(id: number, key: string): void {
    const drop = drops.get(key);
    if (drop === undefined || !drop.pending.delete(id) || drop.pending.size > 0) return;
    drops.delete(key);
    send(drop.worker, { kind: 'dropped', seq: drop.seq });
  }

  function onListening(slot: Slot, worker: Worker, where: Listening): void {
    slot.serving = true;
    if (started) {
      log.info(`worker ${slot.id} (pid ${worker.process.pid}) is serving`, { event: 'worker_started', worker: slot.id, pid: worker.process.pid });
      return;
    }
    listening.add(slot.id);
    if (listening.size < count || stoppingSince !== undefined) return;
    started = true;
    // Once, for all of them: they share every port, so each one's address is the same.
    logListening(log, where, count);
  }

  function onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.figures = undefined;
    slot.serving = false;
    // Its cache is gone: it need not drop anything, and what it asked for needs no answer.
    for (const [key, drop] of drops) {
      if (drop.origin === slot) drops.delete(key);
      else onDropped(slot.id, key);
    }
    const pid = worker.process.pid;
    if (stoppingSince !== undefined) {
      if (code !== 0) exitCode = 1;
      if (live().length === 0) {
        log.info('stopped: every worker exited', { event: 'stopped' });
        process.exit(exitCode);
      }
      return;
    }
    if (!started) {
      // Every worker would fail alike (a port taken, say): the worker logged why; stop the others and exit 1.
      log.fatal(`cannot start: worker ${slot.id} (pid ${pid}) exited with ${signal ?? `code ${code}`} before listening`, {
        event: 'start_failed',
        worker: slot.id,
        pid,
        code,
        signal,
      });
      exitCode = 1;
      stop('start_failed', 'SIGTERM');
      return;
    }
    const lived = performance.now() - slot.startedAt;
    slot.failures = lived >= STABLE_MS ? 0 : slot.failures + 1;
    const delay = Math.min(RESTART_MIN_MS * 2 ** Math.max(0, slot.failures - 1), RESTART_MAX_MS);
    log.warn(`worker ${slot.id} (pid ${pid}) exited with ${signal ?? `code ${code}`}; starting another in ${delay} ms`, {
      event: 'worker_exited',
      worker: slot.id,
      pid,
      code,
      signal,
      restartInMs: delay,
    });
    slot.restart = setTimeout(() => fork(slot), delay);
  }

  /** Every worker drains as on its own SIGTERM; the primary exits once they all have. */
  function stop(why: string, signal: NodeJS.Signals): void {
    stoppingSince = performance.now();
    for (const slot of slots) clearTimeout(slot.restart);
    if (why !== 'start_failed') {
      log.info(`${why} received: stopping ${live().length} workers; each answers what it received (up to ${config.shutdownTimeoutMs / 1000} s), then exits`, {
        event: 'shutdown',
        signal,
        workers: live().length,
        timeoutMs: config.shutdownTimeoutMs,
      });
    }
    for (const { worker } of live()) worker!.process.kill(signal);
    if (live().length === 0) process.exit(exitCode);
  }

  onStopSignals(
    () => stoppingSince,
    (signal) => stop(signal, signal),
    (signal) => {
      // The operator asked twice: they want out now, whatever is still owed; a hung worker too.
      log.warn(`${signal} received again, killing the workers and exiting at once`, { event: 'shutdown_forced', signal });
      for (const { worker } of live()) worker!.process.kill('SIGKILL');
      process.exit(1);
    },
  );
  // The workers hold the certificates: each reads its files again. Without TLS SIGHUP keeps its default.
  if (config.tls || config.httpTls) process.on('SIGHUP', () => live().forEach(({ worker }) => worker!.process.kill('SIGHUP')));

  // Every worker's latest figures to every worker, for INFO's and /metrics' per-worker lines and totals.
  setInterval(() => {
    const workers = slots.flatMap(({ id, figures }): [number, WorkerFigures][] => (figures ? [[id, figures]] : []));
    for (const { worker } of live()) send(worker!, { kind: 'peers', workers });
  }, FIGURES_INTERVAL_MS).unref();

  for (const slot of slots) fork(slot);
}
