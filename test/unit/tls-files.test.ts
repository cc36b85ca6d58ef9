// TLS files: OpenSSL's reasons cut down to the words, and files read with their setting named.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSecureContext, opensslReason, readTlsFiles, TlsFilesError } from '../../src/tls-files.ts';
import { makeTestCerts } from '../helpers/tls-certs.ts';

test("opensslReason keeps OpenSSL's reason and drops its codes and source lines", (t) => {
  t.is(opensslReason(new Error('error:0480006C:PEM routines::no start line')), 'no start line');
  t.is(
    opensslReason(
      new Error(
        '40DDADA1C27F0000:error:0A0000C7:SSL routines:tls_process_client_certificate:peer did not return a certificate:../deps/openssl/openssl/ssl/statem/statem_srvr.c:3764:\n',
      ),
    ),
    'peer did not return a certificate',
  );
  t.is(
    opensslReason(
      new Error('406DE4BC4F7F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../x.c:918:SSL alert number 116\n'),
    ),
    'tlsv13 alert certificate required',
  );
  // Node's own messages stay whole.
  t.is(opensslReason(new Error('self-signed certificate in certificate chain')), 'self-signed certificate in certificate chain');
});

test('readTlsFiles and loadSecureContext name the setting and file, and never quote the file', (t) => {
  const certs = makeTestCerts();
  t.teardown(() => certs.remove());
  const material = readTlsFiles({ cert: { key: 'TLS_CERT_FILE', file: certs.server.cert }, key: { key: 'TLS_KEY_FILE', file: certs.server.key } });
  t.true(material.cert!.equals(certs.server.certPem));
  t.is(material.ca, undefined);
  const error = (f: () => unknown) => {
    const err = t.throws(f, { instanceOf: TlsFilesError });
    return err.message;
  };
  const empty = join(certs.dir, 'empty.pem');
  writeFileSync(empty, '');
  t.is(
    error(() => readTlsFiles({ ca: { key: 'TLS_CA_CERT_FILE', file: empty } })),
    `TLS_CA_CERT_FILE=${empty} holds no certificate (no PEM "-----BEGIN …CERTIFICATE-----" line)`,
  );
  const mismatch = error(() =>
    loadSecureContext({ cert: { key: 'TLS_CERT_FILE', file: certs.server.cert }, key: { key: 'TLS_KEY_FILE', file: certs.otherServer.key } }),
  );
  t.is(mismatch, `TLS_CERT_FILE=${certs.server.cert}, TLS_KEY_FILE=${certs.otherServer.key} cannot be used: key values mismatch`);
  t.false(mismatch.includes(certs.otherServer.keyPem.toString().split('\n')[1]!));
});
