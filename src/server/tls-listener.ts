// Owns the TLS side of the Redis-protocol front end: the tls.Server, client certificates as TLS_AUTH_CLIENTS says, reloading the certificate, failed handshakes counted.
import { X509Certificate } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { TlsListenerConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { rateLimitedLog } from '../log-rate-limit.ts';
import { loadSecureContext } from '../tls-files.ts';

/**
 * A client that has not finished its handshake by then is dropped. Node's default is 120 s; such a
 * client is not one of MAX_CLIENTS yet, so a flood of silent ones would hold sockets that long.
 */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Failed handshakes are logged at most this often, with how many. */
const FAILURE_LOG_INTERVAL_MS = 10_000;

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
  /**
   * Reads the certificate, key and CA files again and serves new connections with them; connections
   * already open keep theirs. Files that cannot be used are logged and the previous ones kept. Returns
   * whether the new files are in use.
   */
  reload(): boolean;
  /** Logs the failed handshakes counted and not logged yet (at shutdown). */
  flush(): void;
}

/** Subject and serial of the certificate served, for the log: what an operator compares after a renewal. */
function describeCertificate(pem: Buffer | undefined): { subject: string; serial: string; validTo: string } | undefined {
  if (pem === undefined) return undefined;
  try {
    const cert = new X509Certificate(pem);
    return { subject: cert.subject.replaceAll('\n', ', '), serial: cert.serialNumber, validTo: cert.validTo };
  } catch {
    return undefined;
  }
}

export function createTlsListener({ config, onClient, onHandshakeFailure, log }: TlsListenerOptions): TlsListener {
  // Checked at start (config.ts) already: a failure here is a file changed in between, and stops the start.
  const { material } = loadSecureContext(config.files);
  let lastFailure = { reason: '', remote: '' };
  const failures = rateLimitedLog(FAILURE_LOG_INTERVAL_MS, (count, periodMs) => {
    const what = periodMs === 0 ? 'a TLS handshake' : `${count} TLS handshake${count === 1 ? '' : 's'} in the last ${Math.round(periodMs / 100) / 10} s`;
    const then = periodMs === 0 ? `; further failures are counted and logged at most every ${FAILURE_LOG_INTERVAL_MS / 1000} s` : '';
    log.warn(`TLS port: ${what} failed (last from ${lastFailure.remote}: ${lastFailure.reason})${then}`, {
      event: 'tls_handshake_failed',
      failed: count,
      remote: lastFailure.remote,
      reason: lastFailure.reason,
    });
  });
  const failed = (reason: string, socket: net.Socket) => {
    onHandshakeFailure();
    lastFailure = { reason, remote: `${socket.remoteAddress}:${socket.remotePort}` };
    failures.count();
  };

  const server = tls.createServer({
    ...material,
    // A client that sends its requests and then shuts its side down still gets its replies (as on the plain port).
    allowHalfOpen: true,
    noDelay: true,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    // yes and optional ask for a certificate; only yes fails the handshake without one (Redis's tls-auth-clients).
    requestCert: config.authClients !== 'no',
    rejectUnauthorized: config.authClients === 'yes',
  });
  server.on('tlsClientError', (err, socket) => failed(err.message, socket));
  server.on('secureConnection', (socket) => {
    // optional: no certificate is fine, but one that does not chain to TLS_CA_CERT_FILE is refused, as Redis does.
    if (config.authClients === 'optional' && !socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) {
      failed(`client certificate refused: ${String(socket.authorizationError)}`, socket);
      socket.destroy();
      return;
    }
    onClient(socket);
  });
  const served = describeCertificate(material.cert);
  if (served)
    log.info(`TLS port serves certificate ${served.subject} (serial ${served.serial}, valid to ${served.validTo})`, { event: 'tls_certificate', ...served });

  return {
    server,
    reload() {
      let next;
      try {
        next = loadSecureContext(config.files).material;
      } catch (err) {
        log.error(`TLS certificate reload failed, still serving the previous one: ${(err as Error).message}`, {
          event: 'tls_reload_failed',
          reason: (err as Error).message,
        });
        return false;
      }
      server.setSecureContext(next);
      const cert = describeCertificate(next.cert);
      log.info(`TLS certificate reloaded: ${cert?.subject ?? '?'} (serial ${cert?.serial ?? '?'}, valid to ${cert?.validTo ?? '?'})`, {
        event: 'tls_reloaded',
        ...cert,
      });
      return true;
    },
    flush: () => failures.flush(),
  };
}
