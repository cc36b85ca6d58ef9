// Owns the TLS side of the Redis-protocol front end: a tls.Server whose clients, once their handshake passed, join the plain port's.
import tls from 'node:tls';
import type { TlsListenerConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { tlsServerSupport } from '../tls-server.ts';

export interface TlsListenerOptions {
  config: TlsListenerConfig;
  /** A client whose handshake (and certificate, when asked for) passed: served like a plain one. */
  onClient: (socket: tls.TLSSocket) => void;
  /** Counts a failed handshake (INFO, /metrics). */
  onHandshakeFailure: () => void;
  log: Logger;
}

export interface TlsListener {
  readonly server: tls.Server;
  /** Reads the certificate, key and CA files again (SIGHUP); false when they cannot be used and the old ones stay. */
  reload(): boolean;
  /** Logs the failed handshakes counted and not logged yet (at shutdown). */
  flush(): void;
}

export function createTlsListener({ config, onClient, onHandshakeFailure, log }: TlsListenerOptions): TlsListener {
  const support = tlsServerSupport({ config, frontEnd: 'resp', onHandshakeFailure, log });
  // allowHalfOpen: a client that sends its requests and then shuts its side down still gets its replies (as on the plain port).
  const server = tls.createServer({ ...support.options, allowHalfOpen: true, noDelay: true });
  support.attach(server, onClient);
  return { server, reload: () => support.reload(), flush: () => support.flush() };
}
