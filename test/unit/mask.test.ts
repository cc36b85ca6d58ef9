// Masking: a URL's password never shown, whatever characters it holds; free text with URLs in it.
import test from 'ava';
import { maskPassword, maskUrlPasswords } from '../../src/mask.ts';

test('maskPassword hides the password and keeps the rest of the URL', (t) => {
  t.is(maskPassword('redis://bob:hunter2@redis_host:6390/3'), 'redis://bob:***@redis_host:6390/3');
  t.is(maskPassword('rediss://:hunter2@h'), 'rediss://:***@h');
  t.is(maskPassword('redis://bob:@h'), 'redis://bob:***@h');
  t.is(maskPassword('redis://h:6379/0'), 'redis://h:6379/0', 'no user info: nothing to hide');
  t.is(maskPassword('redis://bob@h'), 'redis://bob@h', 'a user without a password');
  t.is(maskPassword('not a url'), 'not a url');
});

test('maskPassword hides a password containing @ whole (URL accepts it unencoded; the first @ showed its tail)', (t) => {
  // new URL('redis://u:p@ss@host').password is 'p%40ss': the user info ends at the last @.
  t.is(new URL('redis://u:p@ss@host').password, 'p%40ss');
  t.is(maskPassword('redis://u:p@ss@host:1/0'), 'redis://u:***@host:1/0');
  t.is(maskPassword('redis://u:a@b@c@host'), 'redis://u:***@host');
});

test('maskPassword hides the password of an invalid URL too (a / in it showed it whole in the config error)', (t) => {
  t.is(maskPassword('redis://:pa/ss@host'), 'redis://:***@host');
  t.is(maskPassword('redis://u:p?s#s@host'), 'redis://u:***@host');
});

test('maskUrlPasswords hides each URL password in free text and leaves the rest', (t) => {
  t.is(maskUrlPasswords('from redis://u:s3cret@h:1/0 to rediss://:x@y, done'), 'from redis://u:***@h:1/0 to rediss://:***@y, done');
  t.is(maskUrlPasswords('got "redis://u:p@ss@h" (from environment)'), 'got "redis://u:***@h" (from environment)');
  t.is(maskUrlPasswords('backend 127.0.0.1:6379: connect ECONNREFUSED 127.0.0.1:6379'), 'backend 127.0.0.1:6379: connect ECONNREFUSED 127.0.0.1:6379');
  t.is(maskUrlPasswords('http://host:80/path, no user'), 'http://host:80/path, no user');
  t.is(maskUrlPasswords(''), '');
});

test('maskUrlPasswords takes linear time on adversarial text', (t) => {
  // Many "://" with ':' and no '@', and a long run without a delimiter: each character is visited a bounded number of times.
  const text = 'a://:'.repeat(200_000) + 'x'.repeat(1_000_000);
  const started = performance.now();
  t.is(maskUrlPasswords(text), text);
  t.true(performance.now() - started < 2000, 'did not hang');
});
