// Owns client authentication on the RESP port: the password check, and what a client gets before it has authenticated.
import { createHash, timingSafeEqual } from 'node:crypto';
import { exists as knownToIoredis } from '@ioredis/commands';
import type { CommandTable } from '../commands/backend-commands.ts';
import { unknownCommand } from '../commands/dispatch.ts';
import { wrongArity } from '../commands/spec.ts';
import { findCommand } from '../commands/table.ts';
import { CommandError } from '../errors.ts';

/** Checks a password given by a client against PROXY_PASSWORD. */
export interface PasswordCheck {
  /** True when `given` is the password; takes the same time whatever `given` is. */
  matches(given: Buffer): boolean;
}

const digest = (bytes: Buffer | string): Buffer => createHash('sha256').update(bytes).digest();

/**
 * Both sides are hashed first: timingSafeEqual needs inputs of equal length, and comparing digests
 * tells nothing about the password's length or where a wrong one differs from it.
 */
export function passwordCheck(password: string): PasswordCheck {
  const expected = digest(Buffer.from(password, 'utf8'));
  return { matches: (given) => timingSafeEqual(digest(given), expected) };
}

/** Redis has users; the proxy has only Redis's `default`, whose password is PROXY_PASSWORD. */
export const isDefaultUser = (user: Buffer): boolean => user.length === 7 && user.toString('latin1') === 'default';

/** Redis's words (server.c: shared.noautherr). */
export const NOAUTH = new CommandError('NOAUTH Authentication required.');
export const WRONGPASS = new CommandError('WRONGPASS invalid username-password pair or user is disabled.');
/** Redis 7.0's helloCommand, for a HELLO without AUTH from a client not authenticated yet. */
export const NOAUTH_HELLO = new CommandError(
  'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
);

/** Redis's CMD_NO_AUTH commands (7.0: AUTH, HELLO, QUIT, RESET): the only ones run before authentication. */
const NO_AUTH = new Set(['auth', 'hello', 'quit', 'reset']);

const EXEC_NOAUTH = new CommandError(`EXECABORT Transaction discarded because of: ${NOAUTH.message}`);

/**
 * What a client that has not authenticated gets instead of running `request`, or undefined for the
 * commands it may run. Redis's order (processCommand): an unknown command or a wrong number of arguments
 * is reported as such, then anything but AUTH, HELLO, QUIT and RESET is refused with NOAUTH; EXEC's
 * refusal is worded as a discarded transaction (rejectCommand). Nothing of it reaches Redis. A string is
 * the key of a `GET key` the decoder recognised whole.
 */
export function refuseUnauthenticated(request: Buffer[] | string, table: CommandTable | undefined): CommandError | undefined {
  if (typeof request === 'string') return NOAUTH;
  const name = request[0]!.toString('latin1').toLowerCase();
  if (NO_AUTH.has(name)) return undefined;
  const backend = table?.get(name);
  const arity = backend?.arity ?? findCommand(name)?.arity;
  if (arity === undefined && (table !== undefined || !knownToIoredis(name))) return unknownCommand(request);
  if (arity !== undefined && (arity >= 0 ? request.length !== arity : request.length < -arity)) {
    // Redis words this one without the ERR prefix (commandCheckArity's text goes to execCommandAbort as it is).
    return name === 'exec' ? new CommandError(`EXECABORT Transaction discarded because of: ${wrongArity(name).message.slice(4)}`) : wrongArity(name);
  }
  return name === 'exec' ? EXEC_NOAUTH : NOAUTH;
}
