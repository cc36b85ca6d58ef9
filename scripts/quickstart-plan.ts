// Tells scripts/quickstart.sh, as shell assignments, what the proxy would use (its ports and its Redis, read as the proxy reads .config and the environment) and whether that Redis answers.
import net from 'node:net';
import { loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

const REDIS_DEFAULT_PORT = 6379;

/** Whether a Redis answers at host:port: a reply line to PING (even `-NOAUTH`); over TLS, an accepted connection. */
function redisAnswers(host: string, port: number, tls: boolean, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => (tls ? done(true) : socket.write('PING\r\n')));
    socket.once('data', (d) => done(d[0] === 0x2b /* + */ || d[0] === 0x2d /* - */));
  });
}

/** The port bound when listening on host:port (0: one the system picks), or undefined if it cannot be. */
function bindable(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, host, () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}

const quote = (value: string | number) => `'${String(value).replaceAll("'", `'\\''`)}'`;

let loaded;
try {
  loaded = loadConfig({ env: process.env });
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`redis-cache-proxy: ${err.message}\n`);
  process.exit(2);
}
if (loaded.kind !== 'config') throw new Error('no flags were given, so there is no --help');
const { config } = loaded;
const { backend, respPort } = config;
// The quick start checks the proxy with redis-cli on the plain port.
if (respPort === null) {
  process.stderr.write('redis-cache-proxy: the quick start talks to RESP_PORT, which is off: unset RESP_PORT for it\n');
  process.exit(2);
}
// Where a client on this machine reaches the listeners.
const connectHost = config.listen === '0.0.0.0' || config.listen === '::' ? '127.0.0.1' : config.listen;
const answers = await redisAnswers(backend.host, backend.port, backend.tls);

const plan: Record<string, string | number> = {
  connect_host: connectHost,
  resp_port: respPort,
  http_port: config.httpPort,
  shutdown_seconds: config.shutdownTimeoutMs / 1000,
  redis: `${backend.tls ? 'rediss' : 'redis'}://${backend.host}:${backend.port}/${backend.db}`,
  redis_answers: answers ? 'yes' : 'no',
  // Taken by another program, the proxy could not start (and that program might answer in its place).
  resp_port_free: (await bindable(config.listen, respPort)) === undefined ? 'no' : 'yes',
  http_port_free: (await bindable(config.listen, config.httpPort)) === undefined ? 'no' : 'yes',
  throwaway_port: answers ? '' : ((await bindable('127.0.0.1', REDIS_DEFAULT_PORT)) ?? (await bindable('127.0.0.1', 0))!),
};
for (const [key, value] of Object.entries(plan)) process.stdout.write(`${key}=${quote(value)}\n`);
