// Owns logging an event that can come in floods (a refused connection) at most once per interval, with how many came.
import type { Logger } from './log.ts';

/** The clock and timer a limiter uses; tests pass a fake one. */
export interface LimiterClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls `callback` once after `ms`; must not keep the process alive. */
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: LimiterClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface RateLimitedLog {
  /** One occurrence: reported at once when the last report is an interval old or more, else counted for the next. */
  count(): void;
  /** Reports what was counted and not reported yet, and stops the timer (at shutdown, so no count is lost). */
  flush(): void;
}

/**
 * `report(count, periodMs)` runs for the first occurrence at once (periodMs 0), then at most once per
 * `intervalMs` with the occurrences since the previous report, and not at all while none come. A flood
 * of any size costs one line per interval and a counter increment per occurrence.
 */
export function rateLimitedLog(intervalMs: number, report: (count: number, periodMs: number) => void, clock: LimiterClock = realClock): RateLimitedLog {
  let pending = 0;
  let reportedAt = 0;
  let timer: unknown;

  /** Reports the pending count; `first`: the first of a run, reported as it happens (period 0). */
  function emit(first: boolean) {
    const now = clock.now();
    const count = pending;
    pending = 0;
    const period = first ? 0 : now - reportedAt;
    reportedAt = now;
    report(count, period);
  }

  // An interval after a report: report what came since, and wait another interval; or, if nothing came, stop.
  function tick() {
    if (pending === 0) {
      timer = undefined;
      return;
    }
    emit(false);
    timer = clock.setTimeout(tick, intervalMs);
  }

  return {
    count() {
      pending++;
      if (timer !== undefined) return;
      emit(true);
      timer = clock.setTimeout(tick, intervalMs);
    },
    flush() {
      if (timer === undefined) return;
      if (pending > 0) emit(false);
      clock.clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** Refused connections are logged at most this often, with how many. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** The warning for connections a front end refused at MAX_CLIENTS: one line per interval at most, however many. */
export function refusalLog(log: Logger, frontEnd: 'RESP' | 'HTTP', maxClients: number, clock?: LimiterClock): RateLimitedLog {
  const why = frontEnd === 'RESP' ? `MAX_CLIENTS (${maxClients}) reached` : `MAX_CLIENTS (${maxClients}) reached and every connection is being answered`;
  return rateLimitedLog(
    REFUSAL_LOG_INTERVAL_MS,
    (refused, periodMs) => {
      const seconds = Math.round(periodMs / 100) / 10;
      const what = periodMs === 0 ? 'a connection' : `${refused} connection${refused === 1 ? '' : 's'} in the last ${seconds} s`;
      const then = periodMs === 0 ? `; further refusals are counted and logged at most every ${REFUSAL_LOG_INTERVAL_MS / 1000} s` : '';
      log.warn(`${frontEnd} port refused ${what}: ${why}${then}`, {
        event: 'clients_refused',
        frontEnd: frontEnd.toLowerCase(),
        refused,
        maxClients,
        periodSeconds: seconds,
      });
    },
    clock,
  );
}
