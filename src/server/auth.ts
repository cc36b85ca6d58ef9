// Owns client authentication's words and check: PROXY_PASSWORD compared in constant time, Redis's replies for a client that has not given it.
import { createHash, timingSafeEqual } from 'node:crypto';
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
