// Owns how a rediss:// connection is secured: the CA it trusts, the certificate it presents, the name it checks (REDIS_TLS_*).
import net from 'node:net';
import tls from 'node:tls';
import type { BackendTarget } from '../config.ts';
import { readTlsFiles } from '../tls-files.ts';

/**
 * tls.connect's options for `target`. The files are read at each connect, not once: backend connections
 * open rarely (start, reconnect, a client's own session), and a certificate renewed on disk is then used
 * without a restart. A file that cannot be read any more throws, naming its setting, and that attempt fails.
 */
export function backendTlsOptions(target: BackendTarget): tls.ConnectionOptions {
  const material = target.tlsFiles ? readTlsFiles(target.tlsFiles) : {};
  // SNI takes names only; the certificate is still checked against an IP address (its SAN IP entries).
  const name = target.tlsServerName ?? target.host;
  return {
    host: target.host,
    port: target.port,
    ...material,
    servername: net.isIP(name) ? undefined : name,
    // Node checks the certificate against `host` unless told otherwise: REDIS_TLS_SERVER_NAME names what it must carry.
    ...(target.tlsServerName === undefined
      ? {}
      : { checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(target.tlsServerName!, cert) }),
  };
}
