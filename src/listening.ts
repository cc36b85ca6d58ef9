// Owns the `listening` line: where a started proxy listens, and the words tests, scripts and operators wait for.
import type { Logger } from './log.ts';

/** Where a started proxy listens, as the `listening` line says it (plain strings: a worker sends them to the primary). */
export interface Listening {
  /** `https` with HTTP_TLS=yes, else `http`: whoever reads the line knows the scheme. */
  readonly httpWord: 'http' | 'https';
  readonly http: string;
  /** `host:port`, or `off` with RESP_PORT=off. */
  readonly resp: string;
  readonly backend: string;
  readonly tls: string | undefined;
}

/** The `listening` line; `workers` (WORKERS > 1) is added at its end, as ` workers=N`. */
export function logListening(log: Logger, { httpWord, http, resp, backend, tls }: Listening, workers?: number): void {
  // Tests and scripts wait for this message: keep its words (the TLS port, then the workers, are added at the end).
  log.info(`listening ${httpWord}=${http} resp=${resp} backend=${backend}${tls ? ` tls=${tls}` : ''}${workers ? ` workers=${workers}` : ''}`, {
    event: 'listening',
    http,
    resp,
    backend,
    ...(tls ? { tls } : {}),
    ...(workers ? { workers } : {}),
  });
}
