// Owns turning certificate files named by settings into a TLS secure context: read, checked, and what went wrong named by setting.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

/** The PEM files one side of a TLS connection presents and trusts, each with the setting that names it. */
export interface TlsFiles {
  /** Certificate chain presented to the peer, and its key; both or neither. */
  readonly cert?: { readonly file: string; readonly key: string };
  readonly key?: { readonly file: string; readonly key: string };
  /** CAs the peer's certificate must chain to; unset: the system's. */
  readonly ca?: { readonly file: string; readonly key: string };
}

/** What tls.createSecureContext needs from the files, read now. */
export interface TlsMaterial {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly ca?: Buffer;
}

/** Why the files cannot be used, in one line naming the setting and the file, never their contents. */
export class TlsFilesError extends Error {}

/** What a file must hold: the PEM label's ending (`-----BEGIN CERTIFICATE-----`, `-----BEGIN EC PRIVATE KEY-----`, …). */
type Holds = 'CERTIFICATE' | 'PRIVATE KEY';

function read(setting: { file: string; key: string } | undefined, holds: Holds): Buffer | undefined {
  if (setting === undefined) return undefined;
  let bytes: Buffer;
  try {
    bytes = readFileSync(setting.file);
  } catch (err) {
    throw new TlsFilesError(`${setting.key}=${setting.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // OpenSSL's message for a file that is not PEM is "no start line", and a CA file without a certificate
  // is accepted as trusting nobody: say what was expected instead.
  if (!bytes.includes(`${holds}-----`)) {
    throw new TlsFilesError(`${setting.key}=${setting.file} holds no ${holds.toLowerCase()} (no PEM "-----BEGIN …${holds}-----" line)`);
  }
  return bytes;
}

/** Reads the files; throws TlsFilesError naming the first that cannot be read. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  return { cert: read(files.cert, 'CERTIFICATE'), key: read(files.key, 'PRIVATE KEY'), ca: read(files.ca, 'CERTIFICATE') };
}

/**
 * Reads the files and builds a secure context from them, so that every way they can be wrong shows
 * now (unreadable, not PEM, a key that does not match the certificate, an encrypted key). OpenSSL's
 * reasons name what failed, not the bytes; no passphrase is ever given, so an encrypted key fails
 * instead of prompting on a terminal.
 */
export function loadSecureContext(files: TlsFiles): { material: TlsMaterial; context: tls.SecureContext } {
  const material = readTlsFiles(files);
  try {
    return { material, context: tls.createSecureContext({ ...material, passphrase: '' }) };
  } catch (err) {
    throw new TlsFilesError(`${describe(files)} cannot be used: ${opensslReason(err)}`);
  }
}

/** The settings involved, for a failure OpenSSL does not pin on one file. */
function describe(files: TlsFiles): string {
  return [files.cert, files.key, files.ca]
    .filter((f) => f !== undefined)
    .map((f) => `${f.key}=${f.file}`)
    .join(', ');
}

/**
 * OpenSSL's reason alone, from `error:0480006C:PEM routines::no start line` or
 * `40DD…:error:0A0000C7:SSL routines:tls_process_client_certificate:peer did not return a certificate:<source file>:<line>:`;
 * other messages (Node's own) as they are.
 */
export function opensslReason(err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  return /error:[0-9A-F]+:[^:]*:[^:]*:([^:\n]+)/.exec(message)?.[1] ?? message;
}
