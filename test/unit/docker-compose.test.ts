// docker-compose.yml against the settings, .config and the Dockerfiles: names, ports, variables and health checks that fit together.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, loadConfig, type Config } from '../../src/config.ts';
import { readCompose, readDockerfile, serviceEnv, ROOT, type ComposeService } from '../helpers/docker-files.ts';
import { EXTERNAL_VARIABLES, externalTarget } from '../helpers/external.ts';

const { services } = readCompose();
const dockerfile = readDockerfile();
const redis = services.redis!;
const proxy = services.proxy!;
const tests = services.tests!;

/** The proxy's settings inside its container: .config (copied into the image) < the image's ENV < Compose's environment. */
function proxyConfig(): Config {
  const loaded = loadConfig({ argv: [], env: { ...dockerfile.env(), ...serviceEnv(proxy) }, cwd: ROOT });
  if (loaded.kind !== 'config') throw new Error('expected settings, got --help');
  return loaded.config;
}

const defaultOf = (key: string) => SETTINGS.find((s) => s.key === key)!.default;

/** "IP:HOST:CONTAINER" port mappings as [ip, host, container]. */
const portPairs = (service: ComposeService) =>
  (service.ports ?? []).map((p) => {
    const [ip, host, container] = String(p).split(':');
    return [ip, Number(host), Number(container)];
  });

const dependsOn = (service: ComposeService): Record<string, { condition?: string }> =>
  Array.isArray(service.depends_on) ? Object.fromEntries(service.depends_on.map((name) => [name, {}])) : (service.depends_on ?? {});

test('three services: redis and proxy start with `up`, tests only in the test profile', (t) => {
  t.deepEqual(Object.keys(services).sort(), ['proxy', 'redis', 'tests']);
  t.is(redis.profiles, undefined);
  t.is(proxy.profiles, undefined);
  t.deepEqual(tests.profiles, ['test']);
  t.is(redis.image, 'redis:7-alpine');
  t.is(proxy.build, '.');
  t.deepEqual(tests.build, { context: '.', dockerfile: 'test/Dockerfile' });
});

test('every variable the proxy service sets is a known setting, and the settings load', (t) => {
  const known = new Set(SETTINGS.map((s) => s.key));
  const env = serviceEnv(proxy);
  t.true(Object.keys(env).length > 0);
  t.deepEqual(
    Object.keys(env).filter((key) => !known.has(key)),
    [],
  );
  t.deepEqual(
    Object.keys(dockerfile.env()).filter((key) => !known.has(key)),
    [],
  );
  const config = proxyConfig();
  t.is(config.listen, '0.0.0.0', 'the image listens on every interface, whatever .config says');
  t.deepEqual({ host: config.backend.host, port: config.backend.port }, { host: 'redis', port: 6379 }, "the redis service, on redis-server's default port");
});

test('the proxy publishes the ports it listens on, the defaults the README gives, and the image exposes them', (t) => {
  const config = proxyConfig();
  t.is(config.respPort, Number(defaultOf('RESP_PORT')));
  t.is(config.httpPort, Number(defaultOf('PROXY_PORT')));
  // On the host's loopback only: protected mode is off in this file (see the next test).
  t.deepEqual(portPairs(proxy), [
    ['127.0.0.1', config.respPort, config.respPort],
    ['127.0.0.1', config.httpPort, config.httpPort],
  ]);
  t.deepEqual(
    dockerfile
      .instruction('EXPOSE')
      .flatMap((line) => line.split(/\s+/).map(Number))
      .sort(),
    [config.httpPort, config.respPort].sort(),
  );
});

test('the image keeps protected mode on; Compose, which sets no password, turns it off and says why', (t) => {
  t.is(dockerfile.env().PROTECTED_MODE, 'yes');
  const config = proxyConfig();
  t.is(config.password, undefined);
  t.false(config.protectedMode, 'the tests service and the host reach the proxy from other addresses than its loopback');
  t.regex(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), /# No password is set here, and protected mode .*\n(\s+#.*\n)*\s+PROTECTED_MODE: 'no'/);
});

test('the tests service points at the redis and proxy services, on the ports they listen on', (t) => {
  const env = serviceEnv(tests);
  t.deepEqual(Object.keys(env).sort(), [...EXTERNAL_VARIABLES].sort());
  const target = externalTarget(env)!;
  const config = proxyConfig();
  t.deepEqual(target.resp, { host: 'proxy', port: config.respPort });
  t.deepEqual(target.http, { host: 'proxy', port: config.httpPort });
  const url = new URL(target.redisUrl);
  t.deepEqual({ host: url.hostname, port: Number(url.port || 6379) }, { host: 'redis', port: config.backend.port });
  for (const name of ['redis', 'proxy']) t.true(name in services, `${name} is a service`);
});

test('the tests start once redis and proxy pass their health checks, and both have one', (t) => {
  t.deepEqual(dependsOn(tests), { redis: { condition: 'service_healthy' }, proxy: { condition: 'service_healthy' } });
  t.deepEqual(redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping']);
  // The proxy's is the image's own HEALTHCHECK: test/e2e/docker-image.test.ts runs it against a real proxy,
  // so its path is one the proxy answers.
  t.is(proxy.healthcheck, undefined);
  const command = dockerfile.healthcheck();
  t.is(command[0], 'node');
  const url = /fetch\('http:\/\/127\.0\.0\.1:' \+ \(process\.env\.PROXY_PORT \|\| (\d+)\) \+ '\/[a-z]+'\)/.exec(command.join(' '));
  t.truthy(url, command.join(' '));
  t.is(Number(url![1]), proxyConfig().httpPort, 'it asks the port the proxy serves HTTP on');
});

test('the tests image installs the dev dependencies and runs the end-to-end suite with the closing line', (t) => {
  const tests = readDockerfile('test/Dockerfile');
  t.regex(tests.text, /^FROM node:24-slim$/m);
  t.true(tests.instruction('RUN').some((line) => line.startsWith('npm ci ') && !line.includes('--omit')));
  t.deepEqual(JSON.parse(tests.instruction('CMD')[0]!), ['node', 'scripts/run-tests.ts', 'test/e2e/**']);
});
