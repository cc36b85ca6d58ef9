// CLI entry: load the settings, start the proxy, and stop cleanly on SIGTERM or SIGINT.
import { hostPort } from './address.ts';
import { loadConfig, type LoadResult } from './config.ts';
import { ConfigError } from './errors.ts';
import { createLogger, type Logger, resolveLogFormat } from './log.ts';
import { startProxy } from './proxy.ts';
import { PROXY_NAME, PROXY_VERSION } from './version.ts';

const EXIT_BAD_CONFIG = 2;
/** A second stop signal within this many milliseconds of the first is the same request, delivered twice. */
const SAME_REQUEST_MS = 1000;

/** The settings, or exit 2 with one plain line: the log format is one of the settings, so it is not known yet. */
function loadSettings(): LoadResult {
  try {
    return loadConfig({ argv: process.argv.slice(2), env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`redis-cache-proxy: ${err.message}\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const loaded = loadSettings();
  if (loaded.kind === 'help') {
    process.stdout.write(loaded.text);
    return;
  }
  const { config, settings } = loaded;
  const log = createLogger({
    level: config.logLevel,
    format: resolveLogFormat(config.logFormat, process.stderr.isTTY === true),
    colorize: process.stderr.isTTY === true && !('NO_COLOR' in process.env),
  });

  // A bug must not take the proxy down with every client on it: log it and keep serving.
  process.on('uncaughtException', (err) => log.error(`uncaught exception: ${err.message}`, { event: 'internal_error', err }));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.message ?? String(err)}`, { event: 'internal_error', err }));

  log.info(`starting ${PROXY_NAME} ${PROXY_VERSION} on Node ${process.version}`, {
    event: 'start',
    version: PROXY_VERSION,
    node: process.version,
    settings,
  });

  let proxy;
  try {
    proxy = await startProxy(config, log);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ` (the port is taken: change PROXY_PORT or RESP_PORT${config.tls ? ', or TLS_PORT' : ''})` : '';
    log.fatal(`cannot start: ${e.message}${hint}`, { event: 'start_failed', err });
    process.exit(1);
  }
  const target = config.backend;
  // https= instead of http= with HTTP_TLS=yes, so that whoever reads the line knows the scheme.
  const http = hostPort(proxy.http.address, proxy.http.port);
  const httpWord = config.httpTls ? 'https' : 'http';
  const resp = proxy.resp ? hostPort(proxy.resp.address, proxy.resp.port) : 'off';
  const tls = proxy.tls ? ` tls=${hostPort(proxy.tls.address, proxy.tls.port)}` : '';
  const backend = config.sentinel
    ? `sentinel://${config.sentinel.masterName}`
    : `${target.tls ? 'rediss' : 'redis'}://${hostPort(target.host, target.port)}/${target.db}`;
  // Before the line below: whoever waits for it may signal at once, and a signal with no handler yet
  // would kill the process without the drain.
  stopOnSignals(proxy, config.shutdownTimeoutMs, log);
  // Only with TLS: elsewhere SIGHUP keeps its default (the process ends), as before.
  if (config.tls || config.httpTls) process.on('SIGHUP', () => proxy.reloadTls());
  // Tests and scripts wait for this message: keep its words (the TLS port is added at the end).
  log.info(`listening ${httpWord}=${http} resp=${resp} backend=${backend}${tls}`, {
    event: 'listening',
    http,
    resp,
    backend,
    ...(proxy.tls ? { tls: hostPort(proxy.tls.address, proxy.tls.port) } : {}),
  });
}

function stopOnSignals(proxy: { close(): Promise<void> }, shutdownTimeoutMs: number, log: Logger): void {
  let stoppingSince: number | undefined;
  const stop = (signal: string) => {
    if (stoppingSince !== undefined) {
      // Ctrl-C in the terminal running `npm start` reaches node twice at once (from the terminal, and from npm,
      // which passes its signals on): one request. A signal that comes later is the operator asking again.
      if (performance.now() - stoppingSince < SAME_REQUEST_MS) return;
      // The operator asked twice: they want out now, whatever is still owed.
      log.warn(`${signal} received again, exiting at once`, { event: 'shutdown_forced', signal });
      process.exit(1);
    }
    stoppingSince = performance.now();
    log.info(`${signal} received: no new connections; answering what was received (up to ${shutdownTimeoutMs / 1000} s), then exiting`, {
      event: 'shutdown',
      signal,
      timeoutMs: shutdownTimeoutMs,
    });
    proxy.close().then(
      () => {
        log.info('stopped: every connection closed', { event: 'stopped' });
        process.exit(0);
      },
      (err: unknown) => {
        log.error(`error while closing: ${(err as Error)?.message ?? String(err)}`, { event: 'internal_error', err });
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

// Before it listens, any failure is a failure to start: exit non-zero, so a supervisor sees it
// (the handlers main() installs would otherwise log it and let the process end with 0).
await main().catch((err: unknown) => {
  process.stderr.write(`redis-cache-proxy: cannot start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
