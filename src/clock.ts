// Owns the coarse clock connections use for CLIENT LIST's age and idle.

/** Whole seconds on the monotonic clock: a small integer, so storing it per request allocates nothing. */
export const monotonicSeconds = (): number => (performance.now() / 1000) | 0;
