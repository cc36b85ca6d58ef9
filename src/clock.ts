// Owns the coarse clock connections use for CLIENT LIST's age and idle.

let seconds = 0;
let ticking: NodeJS.Timeout | undefined;

/**
 * Whole seconds on the monotonic clock, refreshed four times a second: reading it costs nothing,
 * where a clock call on every request would be a measurable part of a cache hit.
 */
export function monotonicSeconds(): number {
  if (ticking === undefined) {
    const tick = () => {
      seconds = (performance.now() / 1000) | 0;
    };
    tick();
    ticking = setInterval(tick, 250);
    ticking.unref();
  }
  return seconds;
}
