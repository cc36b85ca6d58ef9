// Every error class: its name, stable code, and message.
import test from 'ava';
import { BackendReplyError, BackendTimeoutError, BackendUnavailableError, CommandError, ConfigError, ProtocolError, ProxyError } from '../../src/errors.ts';

const cases: [ProxyError, string, string][] = [
  [new ConfigError('CACHE_CAPACITY must be a positive integer, got "ten"'), 'ConfigError', 'ERR_CONFIG'],
  [new BackendUnavailableError('backend Redis at h:1 is unavailable (x)'), 'BackendUnavailableError', 'ERR_BACKEND_UNAVAILABLE'],
  [new BackendTimeoutError('backend Redis at h:1 is unavailable (no reply within 2000 ms)'), 'BackendTimeoutError', 'ERR_BACKEND_UNAVAILABLE'],
  [new BackendReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'), 'BackendReplyError', 'ERR_BACKEND_REPLY'],
  [new CommandError("ERR unknown command 'x', with args beginning with: "), 'CommandError', 'ERR_COMMAND'],
  [new ProtocolError('Protocol error: invalid bulk length'), 'ProtocolError', 'ERR_PROTOCOL'],
];

for (const [err, name, code] of cases) {
  test(`${name} has code ${code}`, (t) => {
    t.true(err instanceof ProxyError);
    t.true(err instanceof Error);
    t.is(err.name, name);
    t.is(err.code, code);
    t.truthy(err.message);
    t.false(err.message.includes('\n'));
  });
}

test('a timeout is answered as an unavailable backend', (t) => {
  t.true(new BackendTimeoutError('backend Redis at h:1 is unavailable (no reply within 2000 ms)') instanceof BackendUnavailableError);
});

test('a cause is kept for the log', (t) => {
  const cause = new Error('connect ECONNREFUSED');
  t.is(new BackendUnavailableError('down', { cause }).cause, cause);
});
