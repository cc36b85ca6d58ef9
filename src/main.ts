// CLI entry: load the settings, then serve in this process, or (WORKERS > 1) supervise workers that do; stop cleanly on SIGTERM or SIGINT.
import cluster from 'node:cluster';
import { loadConfig, type LoadResult } from './config.ts';
import { ConfigError } from './errors.ts';
import { logListening } from './listening.ts';
import { logUncaughtErrors, processLogger } from './log.ts';
import { PROXY_NAME, PROXY_VERSION } from './version.ts';

const EXIT_BAD_CONFIG = 2;

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
  // A worker takes its settings from the primary, which has loaded and logged them.
  // Each role loads only its own modules: the primary serves nothing, so it does not load the proxy.
  if (cluster.isWorker) return (await import('./worker.ts')).runWorker();
  const loaded = loadSettings();
  if (loaded.kind === 'help') {
    process.stdout.write(loaded.text);
    return;
  }
  const { config, settings } = loaded;
  const log = processLogger(config);
  logUncaughtErrors(log);

  log.info(`starting ${PROXY_NAME} ${PROXY_VERSION} on Node ${process.version}`, {
    event: 'start',
    version: PROXY_VERSION,
    node: process.version,
    settings,
  });
  if (config.workers > 1) return (await import('./primary.ts')).runPrimary(config, log);
  const { listening } = await (await import('./serve.ts')).serve(config, log);
  logListening(log, listening);
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
