// Owns running one proxy in this process: start it, drain it on SIGTERM or SIGINT (SIGHUP reloads TLS), and say where it listens.
import { hostPort } from './address.ts';
import type { Config } from './config.ts';
import type { Listening } from './listening.ts';
import type { Logger } from './log.ts';
import { type Peers, type RunningProxy, startProxy } from './proxy.ts';
import { onStopSignals } from './stop-signals.ts';

export interface Served {
  readonly proxy: RunningProxy;
  readonly listening: Listening;
  /** Drains and exits as a first SIGTERM does, `why` saying what asked for it; nothing once a drain is under way. */
  readonly drain: (why: string) => void;
}

/**
 * Starts the proxy (exit 1 when it cannot: a port taken, say) and makes SIGTERM and SIGINT drain it, then
 * exit 0. The caller says where it listens: the `listening` line, or a worker's message to the primary.
 */
export async function serve(config: Config, log: Logger, peers?: Peers): Promise<Served> {
  let proxy;
  try {
    proxy = await startProxy(config, log, peers);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ` (the port is taken: change PROXY_PORT or RESP_PORT${config.tls ? ', or TLS_PORT' : ''})` : '';
    log.fatal(`cannot start: ${e.message}${hint}`, { event: 'start_failed', err });
    process.exit(1);
  }
  const target = config.backend;
  const listening: Listening = {
    httpWord: config.httpTls ? 'https' : 'http',
    http: hostPort(proxy.http.address, proxy.http.port),
    resp: proxy.resp ? hostPort(proxy.resp.address, proxy.resp.port) : 'off',
    backend: config.clusterNodes
      ? `${target.tls ? 'rediss' : 'redis'}-cluster://${config.clusterNodes.join(',')}`
      : config.sentinel
        ? `sentinel://${config.sentinel.masterName}`
        : `${target.tls ? 'rediss' : 'redis'}://${hostPort(target.host, target.port)}/${target.db}`,
    tls: proxy.tls ? hostPort(proxy.tls.address, proxy.tls.port) : undefined,
  };
  // Before the line is written: whoever waits for it may signal at once, and a signal with no handler yet
  // would kill the process without the drain.
  const drain = stopOnSignals(proxy, config.shutdownTimeoutMs, log);
  // Only with TLS: elsewhere SIGHUP keeps its default (the process ends), as before.
  if (config.tls || config.httpTls) process.on('SIGHUP', () => proxy.reloadTls());
  return { proxy, listening, drain };
}

/** SIGTERM and SIGINT drain the proxy and exit; the returned function starts the same drain for another reason. */
function stopOnSignals(proxy: { close(): Promise<void> }, shutdownTimeoutMs: number, log: Logger): (why: string) => void {
  let stoppingSince: number | undefined;
  const drain = (why: string, fields: Record<string, unknown>) => {
    stoppingSince = performance.now();
    log.info(`${why}: no new connections; answering what was received (up to ${shutdownTimeoutMs / 1000} s), then exiting`, {
      event: 'shutdown',
      ...fields,
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
  onStopSignals(
    () => stoppingSince,
    (signal) => drain(`${signal} received`, { signal }),
    (signal) => {
      // The operator asked twice: they want out now, whatever is still owed.
      log.warn(`${signal} received again, exiting at once`, { event: 'shutdown_forced', signal });
      process.exit(1);
    },
  );
  return (why) => {
    if (stoppingSince === undefined) drain(why, {});
  };
}
