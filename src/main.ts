// CLI entry: load the settings, start the proxy, and stop cleanly on SIGTERM or SIGINT.
import { hostPort } from './address.ts';
import { loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { createLogger } from './log.ts';
import { startProxy } from './proxy.ts';

const EXIT_BAD_CONFIG = 2;
/** A second stop signal within this many milliseconds of the first is the same request, delivered twice. */
const SAME_REQUEST_MS = 1000;
const log = createLogger();

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig({ argv: process.argv.slice(2), env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`redis-cache-proxy: ${err.message}\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    throw err;
  }
  if (loaded.kind === 'help') {
    process.stdout.write(loaded.text);
    return;
  }
  const { config } = loaded;

  let proxy;
  try {
    proxy = await startProxy(config, log);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (the port is taken: change PROXY_PORT or RESP_PORT)' : '';
    log.error(`cannot start: ${e.message}${hint}`);
    process.exit(1);
  }
  const target = config.backend;
  log.info(
    `listening http=${hostPort(proxy.http.address, proxy.http.port)} resp=${hostPort(proxy.resp.address, proxy.resp.port)} ` +
      `backend=${target.tls ? 'rediss' : 'redis'}://${target.host}:${target.port}/${target.db} ` +
      `expiry=${config.cacheExpiryMs / 1000}s capacity=${config.cacheCapacity} max-memory=${config.cacheMaxMemory} max-value-size=${config.cacheMaxValueSize}`,
  );

  let stoppingSince: number | undefined;
  const stop = (signal: string) => {
    if (stoppingSince !== undefined) {
      // Ctrl-C in the terminal running `npm start` reaches node twice at once (from the terminal, and from npm,
      // which passes its signals on): one request. A signal that comes later is the operator asking again.
      if (performance.now() - stoppingSince < SAME_REQUEST_MS) return;
      // The operator asked twice: they want out now, whatever is still owed.
      log.warn(`${signal} received again, exiting at once`);
      process.exit(1);
    }
    stoppingSince = performance.now();
    log.info(`${signal} received: no new connections; answering what was received (up to ${config.shutdownTimeoutMs / 1000} s), then exiting`);
    proxy.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error(`error while closing: ${String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

// A log nobody reads any more (the pipe or terminal on stderr went away) must not stop the serving: each
// failed write would be an uncaught error, logged to the same stderr, for ever.
process.stderr.on('error', () => {});
process.stdout.on('error', () => {});

// A bug must not take the proxy down with every client on it: log it and keep serving.
process.on('uncaughtException', (err) => log.error(`uncaught exception: ${err.stack ?? String(err)}`));
process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));

// Before it listens, any failure is a failure to start: exit non-zero, so a supervisor sees it
// (the handlers above would otherwise log it and let the process end with 0).
await main().catch((err: unknown) => {
  log.error(`cannot start: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
