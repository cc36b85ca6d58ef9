// Owns the tests' certificates: a private CA, server and client certificates signed by it, and a second CA that nobody trusts, made with openssl.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key, as files and as PEM. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
  /** PEM text of cert (and key), for clients that take them inline. */
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
}

export interface TestCerts {
  readonly dir: string;
  /** The CA the servers and clients below are signed by. */
  readonly ca: CertFiles;
  /** For 127.0.0.1 and localhost (SAN IP and DNS), signed by `ca`, serial 1001. */
  readonly server: CertFiles;
  /** A client certificate signed by `ca`. */
  readonly client: CertFiles;
  /** Another CA, and a server and a client certificate it signed: trusted by nobody here. */
  readonly otherCa: CertFiles;
  readonly otherServer: CertFiles;
  readonly otherClient: CertFiles;
  /** Makes one more certificate signed by `ca` (e.g. a renewed server certificate with a new serial). */
  issue(name: string, options: { serial: number; cn: string; san?: string }): CertFiles;
  /** Deletes the directory. */
  remove(): void;
}

// Without a config file of its own, openssl reads the system's, whose default extensions would clash with -addext.
const MINIMAL_CONFIG = '[req]\ndistinguished_name=dn\n[dn]\n';
// EC keys: making an RSA key takes 10 to 100 times longer, and these tests make several.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes the certificates in a fresh temporary directory (about 50 ms of openssl runs). */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'rcp-tls-'));
  const config = join(dir, 'openssl.cnf');
  writeFileSync(config, MINIMAL_CONFIG);
  const files = (name: string): CertFiles => {
    const cert = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    return {
      cert,
      key,
      get certPem() {
        return readFileSync(cert);
      },
      get keyPem() {
        return readFileSync(key);
      },
    };
  };
  const openssl = (args: string[]) => execFileSync('openssl', ['req', '-config', config, '-x509', ...EC_KEY, '-days', '2', ...args], { stdio: 'pipe' });
  const makeCa = (name: string, cn: string) => {
    const f = files(name);
    openssl([
      '-keyout',
      f.key,
      '-out',
      f.cert,
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return f;
  };
  const makeLeaf = (ca: CertFiles, name: string, { serial, cn, san }: { serial: number; cn: string; san?: string }) => {
    const f = files(name);
    const ext = ['-addext', 'basicConstraints=CA:FALSE', ...(san ? ['-addext', `subjectAltName=${san}`] : [])];
    openssl(['-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(serial), '-keyout', f.key, '-out', f.cert, '-subj', `/CN=${cn}`, ...ext]);
    return f;
  };
  const SERVER_SAN = 'IP:127.0.0.1,DNS:localhost';
  const ca = makeCa('ca', 'redis-cache-proxy test CA');
  const otherCa = makeCa('other-ca', 'someone else CA');
  return {
    dir,
    ca,
    server: makeLeaf(ca, 'server', { serial: 1001, cn: 'localhost', san: SERVER_SAN }),
    client: makeLeaf(ca, 'client', { serial: 2001, cn: 'test client' }),
    otherCa,
    otherServer: makeLeaf(otherCa, 'other-server', { serial: 3001, cn: 'localhost', san: SERVER_SAN }),
    otherClient: makeLeaf(otherCa, 'other-client', { serial: 4001, cn: 'other client' }),
    issue: (name, options) => makeLeaf(ca, name, { san: SERVER_SAN, ...options }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
