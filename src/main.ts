// CLI entry: load the settings, start the proxy, and stop cleanly on SIGTERM or SIGINT.
import { loadConfig } from './config.ts';
import { ProxyError } from './errors.ts';
import { createLogger } from './log.ts';
import { startProxy } from './proxy.ts';

const EXIT_BAD_CONFIG = 2;
const log = createLogger();

function formatAddress({ address, port }: { address: string; port: number }): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig({ argv: process.argv.slice(2), env: process.env });
  } catch (err) {
    if (err instanceof ProxyError && err.code === 'ERR_CONFIG') {
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
    `listening http=${formatAddress(proxy.http)} resp=${formatAddress(proxy.resp)} ` +
      `backend=${target.tls ? 'rediss' : 'redis'}://${target.host}:${target.port}/${target.db} ` +
      `expiry=${config.cacheExpiryMs / 1000}s capacity=${config.cacheCapacity}`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received, closing`);
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

// A bug must not take the proxy down with every client on it: log it and keep serving.
process.on('uncaughtException', (err) => log.error(`uncaught exception: ${err.stack ?? String(err)}`));
process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));

await main();
