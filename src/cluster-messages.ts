// Owns the messages between the primary and its workers (WORKERS > 1): their shapes, and checking each one that arrives.
import type { Config } from './config.ts';
import type { Listening } from './listening.ts';
import { isWorkerFigures, type WorkerFigures } from './worker-figures.ts';

/** How often a worker reports its figures to the primary, and the primary sends every worker's to all of them. */
export const FIGURES_INTERVAL_MS = 1000;

/** The primary's answer to a worker's `ready`: who it is, and the settings the primary loaded (a worker restarted later serves the same ones). */
export interface StartMessage {
  readonly kind: 'start';
  readonly id: number;
  readonly count: number;
  readonly config: Config;
}

/** The primary to every worker, about once a second: each worker's figures as last reported. */
export interface PeersMessage {
  readonly kind: 'peers';
  readonly workers: readonly [id: number, figures: WorkerFigures][];
}

/**
 * A worker to the primary, first: it listens for its start message now. A message sent before a process
 * listens for it is lost, and a worker takes a while to get there (loading and compiling the sources).
 */
export interface ReadyMessage {
  readonly kind: 'ready';
}

/** A worker to the primary: every port is open. */
export interface ListeningMessage {
  readonly kind: 'listening';
  readonly listening: Listening;
}

/** A worker to the primary, about once a second: its figures. */
export interface FiguresMessage {
  readonly kind: 'figures';
  readonly figures: WorkerFigures;
}

/**
 * What writes acknowledged through one worker may have changed: these keys (latin1), or everything
 * (null: FLUSHALL, SWAPDB), and whether some were not named (a script: each worker waits for Redis's
 * invalidations on its own tracked connection).
 */
export interface Dropped {
  readonly keys: readonly string[] | null;
  readonly unnamed: boolean;
}

/** A worker to the primary, after writes it relays: have every other worker drop `what`, then say `dropped` back. */
export interface DropRequest {
  readonly kind: 'drop';
  readonly seq: number;
  readonly what: Dropped;
}

/** The primary to every other worker: drop `what` for worker `origin`'s request `seq`, then answer `dropped`. */
export interface DropOrder {
  readonly kind: 'drop';
  readonly origin: number;
  readonly seq: number;
  readonly what: Dropped;
}

/** A worker to the primary: it dropped what `origin`'s request `seq` asked. */
export interface DroppedReport {
  readonly kind: 'dropped';
  readonly origin: number;
  readonly seq: number;
}

/** The primary to the worker that asked: every other worker dropped what request `seq` asked. */
export interface DroppedEverywhere {
  readonly kind: 'dropped';
  readonly seq: number;
}

export type ToWorker = StartMessage | PeersMessage | DropOrder | DroppedEverywhere;
export type ToPrimary = ReadyMessage | ListeningMessage | FiguresMessage | DropRequest | DroppedReport;

const isDropped = (what: unknown): what is Dropped => {
  if (typeof what !== 'object' || what === null) return false;
  const { keys, unnamed } = what as { keys?: unknown; unnamed?: unknown };
  return typeof unnamed === 'boolean' && (keys === null || (Array.isArray(keys) && keys.every((k) => typeof k === 'string')));
};

const kindOf = (message: unknown): unknown => (typeof message === 'object' && message !== null ? (message as { kind?: unknown }).kind : undefined);

/** A message from a worker, or undefined for anything else on the channel (prom-client and Node use it too). */
export function toPrimary(message: unknown): ToPrimary | undefined {
  const kind = kindOf(message);
  if (kind === 'ready') return message as ReadyMessage;
  if (kind === 'listening') {
    const { listening } = message as { listening?: unknown };
    return typeof listening === 'object' && listening !== null && typeof (listening as Listening).resp === 'string' ? (message as ListeningMessage) : undefined;
  }
  if (kind === 'figures') return isWorkerFigures((message as { figures?: unknown }).figures) ? (message as FiguresMessage) : undefined;
  if (kind === 'drop') {
    const { seq, what } = message as { seq?: unknown; what?: unknown };
    return Number.isSafeInteger(seq) && isDropped(what) ? (message as DropRequest) : undefined;
  }
  if (kind === 'dropped') {
    const { seq, origin } = message as { seq?: unknown; origin?: unknown };
    return Number.isSafeInteger(seq) && Number.isSafeInteger(origin) ? (message as DroppedReport) : undefined;
  }
  return undefined;
}

/** A message from the primary, or undefined for anything else on the channel. */
export function toWorker(message: unknown): ToWorker | undefined {
  const kind = kindOf(message);
  if (kind === 'start') {
    const { id, count, config } = message as { id?: unknown; count?: unknown; config?: unknown };
    return Number.isSafeInteger(id) && Number.isSafeInteger(count) && typeof config === 'object' && config !== null ? (message as StartMessage) : undefined;
  }
  if (kind === 'peers') {
    const { workers } = message as { workers?: unknown };
    const valid = Array.isArray(workers) && workers.every((w) => Array.isArray(w) && w.length === 2 && Number.isSafeInteger(w[0]) && isWorkerFigures(w[1]));
    return valid ? (message as PeersMessage) : undefined;
  }
  if (kind === 'drop') {
    const { seq, origin, what } = message as { seq?: unknown; origin?: unknown; what?: unknown };
    return Number.isSafeInteger(seq) && Number.isSafeInteger(origin) && isDropped(what) ? (message as DropOrder) : undefined;
  }
  if (kind === 'dropped') return Number.isSafeInteger((message as { seq?: unknown }).seq) ? (message as DroppedEverywhere) : undefined;
  return undefined;
}
