// The e2e tests' choice of target: the three TEST_* variables together or none, each checked with a clear error.
import test from 'ava';
import { externalTarget } from '../helpers/external.ts';

const compose = { TEST_REDIS_URL: 'redis://redis:6379', TEST_PROXY_RESP: 'proxy:6380', TEST_PROXY_HTTP: 'proxy:5000' };

test('no TEST_* variable: the tests start their own Redis and proxy', (t) => {
  t.is(externalTarget({}), undefined);
  t.is(externalTarget({ TEST_PROXY_RESP: '' }), undefined);
});

test('all three: the addresses to test', (t) => {
  t.deepEqual(externalTarget(compose), { redisUrl: 'redis://redis:6379', resp: { host: 'proxy', port: 6380 }, http: { host: 'proxy', port: 5000 } });
  t.deepEqual(externalTarget({ ...compose, TEST_PROXY_RESP: '[::1]:6380' })?.resp, { host: '::1', port: 6380 });
});

test('some but not all: an error naming what is missing', (t) => {
  t.throws(() => externalTarget({ TEST_PROXY_RESP: 'proxy:6380' }), {
    message:
      'TEST_REDIS_URL, TEST_PROXY_RESP, TEST_PROXY_HTTP go together (a proxy and the Redis behind it): TEST_PROXY_RESP set, TEST_REDIS_URL, TEST_PROXY_HTTP not',
  });
});

test('a malformed value: an error naming the variable, the form and the value', (t) => {
  t.throws(() => externalTarget({ ...compose, TEST_PROXY_HTTP: 'proxy' }), { message: 'TEST_PROXY_HTTP must be host:port (e.g. proxy:5000), got "proxy"' });
  t.throws(() => externalTarget({ ...compose, TEST_PROXY_RESP: 'proxy:70000' }), { message: /^TEST_PROXY_RESP must be host:port/ });
  t.throws(() => externalTarget({ ...compose, TEST_REDIS_URL: 'redis:6379' }), { message: /^TEST_REDIS_URL must be redis:\/\/\[:password@\]host/ });
  t.throws(() => externalTarget({ ...compose, TEST_REDIS_URL: 'http://redis:6379' }), { message: /^TEST_REDIS_URL must be/ });
});
