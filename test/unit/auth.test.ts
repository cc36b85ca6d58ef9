// Client authentication's pure parts: the password check, the HTTP Authorization header, protected mode's decision, and what an unauthenticated client is told.
import test from 'ava';
import { authorized } from '../../src/http/auth.ts';
import { NOAUTH, passwordCheck } from '../../src/server/auth.ts';
import { refuseUnauthenticated } from '../../src/server/unauthenticated.ts';
import { deniedByProtectedMode, isLoopback, PROTECTED_MODE_MESSAGE } from '../../src/server/protected-mode.ts';

const check = passwordCheck('pä ss:wörd');
const words = (...args: string[]) => args.map((a) => Buffer.from(a));

test('the password check takes the bytes of the password, nothing shorter, longer or differently encoded', (t) => {
  t.true(check.matches(Buffer.from('pä ss:wörd', 'utf8')));
  for (const wrong of ['', 'pä ss:wör', 'pä ss:wördd', 'PÄ SS:WÖRD', ' pä ss:wörd']) t.false(check.matches(Buffer.from(wrong, 'utf8')), wrong);
  t.false(check.matches(Buffer.from('pä ss:wörd', 'latin1')));
});

test('HTTP: Bearer <password>, or Basic with the user default or none; schemes in any case; anything else is refused', (t) => {
  const basic = (text: string) => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;
  for (const header of [
    'Bearer pä ss:wörd',
    'bearer pä ss:wörd',
    'BEARER   pä ss:wörd',
    basic('default:pä ss:wörd'),
    basic(':pä ss:wörd'),
    `basic ${Buffer.from(':pä ss:wörd').toString('base64')}`,
  ]) {
    t.true(authorized(header, check), header);
  }
  for (const header of [
    undefined,
    '',
    'Bearer',
    'Bearer wrong',
    'Bearerpä ss:wörd',
    basic('admin:pä ss:wörd'),
    basic('default:wrong'),
    basic('pä ss:wörd'),
    'Basic !!!not-base64',
    'Digest pä ss:wörd',
    `Bearer ${'x'.repeat(5000)}`,
  ]) {
    t.false(authorized(header, check), String(header));
  }
});

test("protected mode: without a password, only loopback clients; with a password or PROTECTED_MODE=no, everyone (Redis 7's rule)", (t) => {
  const loopback = ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '::ffff:127.0.0.1'];
  const others = ['10.0.0.5', '192.168.1.20', '172.17.0.1', '::ffff:10.0.0.5', 'fe80::1', '2001:db8::1', '128.0.0.1', '::', '0.0.0.0', '1127.0.0.1', undefined];
  for (const address of loopback) {
    t.true(isLoopback(address), address);
    t.false(deniedByProtectedMode(true, false, address), address);
  }
  for (const address of others) {
    t.false(isLoopback(address), String(address));
    t.true(deniedByProtectedMode(true, false, address), String(address));
    t.false(deniedByProtectedMode(true, true, address), `${address} with a password`);
    t.false(deniedByProtectedMode(false, false, address), `${address} with PROTECTED_MODE=no`);
  }
  // Redis's words, naming the proxy's settings to change; one line, so it fits a RESP error and an HTTP body.
  t.true(
    PROTECTED_MODE_MESSAGE.startsWith(
      'DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.',
    ),
  );
  t.regex(PROTECTED_MODE_MESSAGE, /PROXY_PASSWORD .*PROTECTED_MODE=no/);
  t.false(/[\r\n]/.test(PROTECTED_MODE_MESSAGE));
});

test('before AUTH: AUTH, HELLO, QUIT and RESET run; unknown commands and wrong arities are reported as Redis does; anything else is NOAUTH', (t) => {
  for (const name of ['AUTH', 'auth', 'HELLO', 'Quit', 'RESET']) t.is(refuseUnauthenticated(words(name, 'x'), undefined), undefined, name);
  t.is(refuseUnauthenticated('key', undefined), NOAUTH);
  for (const request of [words('GET', 'k'), words('set', 'k', 'v'), words('PING'), words('MULTI'), words('SUBSCRIBE', 'c'), words('CONFIG', 'GET', '*')]) {
    t.is(refuseUnauthenticated(request, undefined), NOAUTH, request.join(' '));
  }
  t.is(refuseUnauthenticated(words('NOSUCH', 'a'), undefined)?.message, "ERR unknown command 'NOSUCH', with args beginning with: 'a' ");
  t.is(refuseUnauthenticated(words('GET'), undefined)?.message, "ERR wrong number of arguments for 'get' command");
});
