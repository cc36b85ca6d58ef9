// Owns who may read over HTTP: the password in an Authorization header (Bearer or Basic), and protected mode's loopback rule.
import type { PasswordCheck } from '../server/auth.ts';

/** Both schemes offered, one challenge per header line (RFC 9110 allows either form; some clients read only one per line). */
export const CHALLENGES = ['Bearer realm="redis-cache-proxy"', 'Basic realm="redis-cache-proxy"'];

/** Longest Authorization header looked at: a password of any sane length fits; a bigger header is refused unread. */
const MAX_HEADER_CHARS = 4096;

/**
 * Whether the Authorization header carries the password: `Bearer <password>`, or `Basic` with
 * base64 of `default:<password>` or `:<password>` (Redis's only user is `default`; many clients leave
 * the user empty when only a password is set). Scheme names in any case, as RFC 9110 says. Linear: no regex.
 */
export function authorized(header: string | undefined, password: PasswordCheck): boolean {
  if (header === undefined || header.length > MAX_HEADER_CHARS) return false;
  const space = header.indexOf(' ');
  if (space === -1) return false;
  const scheme = header.slice(0, space).toLowerCase();
  const credentials = header.slice(space + 1).trim();
  if (scheme === 'bearer') return password.matches(Buffer.from(credentials, 'utf8'));
  if (scheme !== 'basic') return false;
  const decoded = Buffer.from(credentials, 'base64');
  const colon = decoded.indexOf(0x3a);
  if (colon === -1) return false;
  const user = decoded.subarray(0, colon).toString('latin1');
  // The password is checked whatever the user, so a wrong user takes as long to refuse as a wrong password.
  const matches = password.matches(decoded.subarray(colon + 1));
  return (user === '' || user === 'default') && matches;
}
