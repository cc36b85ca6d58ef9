// Owns reading SIGTERM and SIGINT as stop requests, for one proxy process and for the primary alike: the first stops, one that comes later forces.
/** A second stop signal within this many milliseconds of the first is the same request, delivered twice. */
const SAME_REQUEST_MS = 1000;

export type StopSignal = 'SIGTERM' | 'SIGINT';

/**
 * `stop` on the first SIGTERM or SIGINT; `force` on one that comes while `stoppingSince()` says a stop is
 * under way, unless it is within SAME_REQUEST_MS of it: Ctrl-C in the terminal running `npm start` reaches
 * node twice at once (from the terminal, and from npm, which passes its signals on), which is one request.
 */
export function onStopSignals(stoppingSince: () => number | undefined, stop: (signal: StopSignal) => void, force: (signal: StopSignal) => void): void {
  const on = (signal: StopSignal) => {
    const since = stoppingSince();
    if (since === undefined) return stop(signal);
    if (performance.now() - since < SAME_REQUEST_MS) return;
    force(signal);
  };
  process.on('SIGTERM', () => on('SIGTERM'));
  process.on('SIGINT', () => on('SIGINT'));
}
