// Owns what every TLS listener of the proxy shares: its secure options from the TLS_* files, client certificates as TLS_AUTH_CLIENTS says, reloading, and failed handshakes counted and logged.
import { X509Certificate } from 'node:crypto';
import type net from 'node:net';
import type tls from 'node:tls';
import type { TlsServerConfig } from './config.ts';
import type { Logger } from './log.ts';
import { rateLimitedLog } from './log-rate-limit.ts';
import { loadSecureContext, opensslReason } from './tls-files.ts';

/**
 * A client that has not finished its handshake by then is dropped. Node's default is 120 s; such a
 * client is not one of MAX_CLIENTS yet, so a flood of silent ones would hold sockets that long.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Failed handshakes are logged at most this often, with how many. */
const FAILURE_LOG_INTERVAL_MS = 10_000;

/** Which listener: named in log lines. */
export type TlsFrontEnd = 'resp' | 'http';
const PORT_NAME: Record<TlsFrontEnd, string> = { resp: 'TLS port', http: 'HTTPS port' };

export interface TlsServerOptions {
  config: TlsServerConfig;
  frontEnd: TlsFrontEnd;
  /** Counts a failed handshake (INFO, /metrics). */
  onHandshakeFailure: () => void;
  log: Logger;
}

export interface TlsServerSupport {
  /** For tls.createServer / https.createServer: certificate, key, CA, and whether client certificates are asked for and required. */
  readonly options: tls.TlsOptions;
  /**
   * Wires `server`: failed handshakes counted and logged; with TLS_AUTH_CLIENTS=optional, a client whose
   * certificate does not chain to the CA is closed (Node can only require a certificate or accept any).
   * `onSecure` gets the connections that passed.
   */
  attach(server: tls.Server, onSecure: (socket: tls.TLSSocket) => void): void;
  /**
   * Reads the files again and serves new connections with them; open ones keep theirs. Files that
   * cannot be used are logged and the previous ones kept. Returns whether the new files are in use.
   */
  reload(): boolean;
  /** Logs the failed handshakes counted and not logged yet (at shutdown). */
  flush(): void;
}

/** Subject and serial of a certificate, for the log: what an operator compares after a renewal. */
function describeCertificate(pem: Buffer | undefined): { subject: string; serial: string; validTo: string } | undefined {
  if (pem === undefined) return undefined;
  try {
    const cert = new X509Certificate(pem);
    return { subject: cert.subject.replaceAll('\n', ', '), serial: cert.serialNumber, validTo: cert.validTo };
  } catch {
    return undefined;
  }
}

export function tlsServerSupport({ config, frontEnd, onHandshakeFailure, log }: TlsServerOptions): TlsServerSupport {
  const name = PORT_NAME[frontEnd];
  // Checked at start (config.ts) already: a failure here is a file changed in between, and stops the start.
  const { material } = loadSecureContext(config.files);
  let server: tls.Server | undefined;
  let lastFailure = { reason: '', remote: '' };
  const failures = rateLimitedLog(FAILURE_LOG_INTERVAL_MS, (count, periodMs) => {
    const what = periodMs === 0 ? 'a TLS handshake' : `${count} TLS handshake${count === 1 ? '' : 's'} in the last ${Math.round(periodMs / 100) / 10} s`;
    const then = periodMs === 0 ? `; further failures are counted and logged at most every ${FAILURE_LOG_INTERVAL_MS / 1000} s` : '';
    log.warn(`${name}: ${what} failed (last from ${lastFailure.remote}: ${lastFailure.reason})${then}`, {
      event: 'tls_handshake_failed',
      frontEnd,
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
  const served = describeCertificate(material.cert);
  if (served)
    log.info(`${name} serves certificate ${served.subject} (serial ${served.serial}, valid to ${served.validTo})`, {
      event: 'tls_certificate',
      frontEnd,
      ...served,
    });

  return {
    options: {
      ...material,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      // yes and optional ask for a certificate; only yes fails the handshake without one (Redis's tls-auth-clients).
      requestCert: config.authClients !== 'no',
      rejectUnauthorized: config.authClients === 'yes',
    },
    attach(s, onSecure) {
      server = s;
      s.on('tlsClientError', (err, socket) => failed(opensslReason(err), socket));
      s.on('secureConnection', (socket: tls.TLSSocket) => {
        // optional: no certificate is fine, but one that does not chain to TLS_CA_CERT_FILE is refused, as Redis does.
        if (config.authClients === 'optional' && !socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) {
          failed(`client certificate refused: ${String(socket.authorizationError)}`, socket);
          socket.destroy();
          return;
        }
        onSecure(socket);
      });
    },
    reload() {
      let next;
      try {
        next = loadSecureContext(config.files).material;
      } catch (err) {
        const reason = (err as Error).message;
        log.error(`${name}: certificate reload failed, still serving the previous one: ${reason}`, { event: 'tls_reload_failed', frontEnd, reason });
        return false;
      }
      server?.setSecureContext(next);
      const cert = describeCertificate(next.cert);
      log.info(`${name}: certificate reloaded: ${cert?.subject ?? '?'} (serial ${cert?.serial ?? '?'}, valid to ${cert?.validTo ?? '?'})`, {
        event: 'tls_reloaded',
        frontEnd,
        ...cert,
      });
      return true;
    },
    flush: () => failures.flush(),
  };
}
