// Owns what a RESP client that has not authenticated may run, and what it is told instead: Redis 7.0's processCommand rules.
import { exists as knownToIoredis } from '@ioredis/commands';
import type { CommandTable } from '../commands/backend-commands.ts';
import { unknownCommand } from '../commands/dispatch.ts';
import { wrongArity } from '../commands/spec.ts';
import { findCommand } from '../commands/table.ts';
import { CommandError } from '../errors.ts';
import { NOAUTH } from './auth.ts';

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
