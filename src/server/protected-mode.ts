// Owns protected mode: without a password, only clients on the loopback interface are served, as Redis does.

/**
 * Redis 7.0's text (networking.c, clientAcceptHandler), with the proxy's settings in place of Redis's
 * CONFIG SET and command-line option. One line: it goes out as a RESP error and as an HTTP 403's body.
 */
export const PROTECTED_MODE_MESSAGE =
  'DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. ' +
  'In this mode connections are only accepted from the loopback interface. ' +
  'If you want to connect from external computers to redis-cache-proxy you may adopt one of the following solutions: ' +
  '1) Set a password for the default user: PROXY_PASSWORD (or PROXY_PASSWORD_FILE), and give it with AUTH. ' +
  '2) Disable protected mode with PROTECTED_MODE=no, however MAKE SURE the proxy is not publicly accessible from internet if you do so. ' +
  'Both are settings of the proxy (.config, environment or flags) and take effect when it is restarted. ' +
  'NOTE: You only need to do one of the above things in order for the proxy to start accepting connections from the outside.';

/**
 * A loopback address: 127.0.0.0/8 and ::1, also as Node reports IPv4 on a dual-stack socket
 * (::ffff:127.0.0.1). Redis compares with 127.0.0.1 and ::1 only; the whole 127/8 block is the loopback
 * interface's (Linux answers any of it locally), so a client bound to 127.0.0.2 is just as local.
 * Plain string tests: the address is the kernel's text, never a client's.
 */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') && v4.split('.').length === 4;
}

/**
 * Redis's rule (7.0, clientAcceptHandler): protected mode on, and no password for the default user, and the
 * client not on loopback. Redis 7 does not look at the bound address: binding 0.0.0.0 with no password
 * still serves only local clients until one of the two settings changes. An undefined address (the
 * socket already closed) is not loopback.
 */
export function deniedByProtectedMode(protectedMode: boolean, passwordSet: boolean, remoteAddress: string | undefined): boolean {
  return protectedMode && !passwordSet && !isLoopback(remoteAddress);
}
