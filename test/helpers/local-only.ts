// Owns declaring the e2e tests that need a Redis or proxy of their own: skipped, with the reason, against an external one.
import test, { type ExecutionContext } from 'ava';
import { EXTERNAL } from './external.ts';

type Implementation = (t: ExecutionContext) => unknown;

/** How a test needing its own Redis or proxy is declared: test.serial or test, and with .skip. */
interface Declare {
  (title: string, implementation: Implementation): void;
  skip(title: string, implementation: Implementation): void;
}

function declareLocal(declare: Declare, reason: string) {
  return (title: string, implementation: Implementation): void => {
    if (EXTERNAL) declare.skip(`${title} [skipped against an external proxy: ${reason}]`, implementation);
    else declare(title, implementation);
  };
}

/**
 * `test` (and `.serial`) for a test that needs a Redis or proxy of its own, `reason` saying why (e.g.
 * "starts a proxy with MAX_CLIENTS=5", "stops Redis"). Against an external target it is declared with
 * `.skip` and the reason in its title, so the run reports it as skipped rather than passing it.
 */
export function localOnly(reason: string): ((title: string, implementation: Implementation) => void) & {
  serial: (title: string, implementation: Implementation) => void;
} {
  return Object.assign(declareLocal(test, reason), { serial: declareLocal(test.serial, reason) });
}
