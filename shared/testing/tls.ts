import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A private CA and certificates made with the `openssl` command, for tests of TLS paths (a collector or proxy with
 * a private CA, client certificates). EC P-256 keys, so generation takes milliseconds.
 *
 *   const ca = makeCa(dir, 'test-ca');
 *   const server = issueCert(ca, dir, 'server', { sans: ['IP:127.0.0.1', 'DNS:localhost'] });
 */
export interface CertFiles {
  name: string;
  certFile: string;
  keyFile: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCa(dir: string, name: string): CertFiles {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    keyFile,
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-out',
    certFile,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { name, certFile, keyFile };
}

/** A leaf certificate signed by `ca`: a server certificate for `sans`, or a client certificate. */
export function issueCert(
  ca: CertFiles,
  dir: string,
  name: string,
  o: { sans?: string[]; client?: boolean } = {},
): CertFiles {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-out', csr]);
  const lines = ['basicConstraints=CA:FALSE', `extendedKeyUsage=${o.client ? 'clientAuth' : 'serverAuth'}`];
  if (o.sans?.length) lines.push(`subjectAltName=${o.sans.join(',')}`);
  writeFileSync(ext, lines.join('\n') + '\n');
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    certFile,
  ]);
  return { name, certFile, keyFile };
}
