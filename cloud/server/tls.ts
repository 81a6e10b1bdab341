import { readFileSync } from 'node:fs';
import type { Server as HttpsServer, ServerOptions as HttpsServerOptions } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { describeError, VigilError } from '../errors.js';
import type { Logger } from '../../shared/log/index.js';

/**
 * `vigil-cloud serve` terminating TLS itself (`server.tls.cert_file` + `server.tls.key_file`). The files are read at
 * start and again on SIGHUP: a renewed certificate (certbot, an internal CA) is swapped in with
 * `server.setSecureContext` for new connections while the listener and open connections stay up. A reload that
 * cannot read or parse the files, or whose key does not match the certificate, keeps the certificate in use and
 * says why.
 */
export interface ServerTlsFiles {
  cert_file?: string | undefined;
  key_file?: string | undefined;
}

export interface LoadedCertificate {
  cert: Buffer;
  key: Buffer;
  /** Subject and expiry of the leaf certificate, for the log. */
  subject: string;
  notAfter: string;
  fingerprint256: string;
}

/** Whether TLS is configured; one file without the other is a config error. */
export function tlsConfigured(files: ServerTlsFiles | undefined): files is Required<ServerTlsFiles> {
  if (!files || (files.cert_file === undefined && files.key_file === undefined)) return false;
  if (files.cert_file === undefined || files.key_file === undefined) {
    const message = 'server.tls needs both cert_file and key_file (or neither, for plain HTTP)';
    throw new VigilError('config_invalid', message, { details: { path: 'server.tls' } });
  }
  return true;
}

function readPem(path: string, key: 'cert_file' | 'key_file'): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new VigilError('config_invalid', `server.tls.${key}: cannot read ${path}: ${describeError(err)}`, {
      details: { path: `server.tls.${key}`, file: path },
      cause: err,
    });
  }
}

/** Reads and checks the pair: both parse, and the key belongs to the certificate. */
export function loadCertificate(files: Required<ServerTlsFiles>): LoadedCertificate {
  const cert = readPem(files.cert_file, 'cert_file');
  const key = readPem(files.key_file, 'key_file');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    const message = `server.tls.cert_file: ${files.cert_file} is not a PEM certificate: ${describeError(err)}`;
    throw new VigilError('config_invalid', message, { details: { path: 'server.tls.cert_file' }, cause: err });
  }
  try {
    // Fails when the key does not parse or does not match the certificate.
    createSecureContext({ cert, key });
  } catch (err) {
    const message = `server.tls.key_file: ${files.key_file} does not fit ${files.cert_file}: ${describeError(err)}`;
    throw new VigilError('config_invalid', message, { details: { path: 'server.tls.key_file' }, cause: err });
  }
  const subject = leaf.subject.replace(/\n/g, ', ');
  return { cert, key, subject, notAfter: leaf.validTo, fingerprint256: leaf.fingerprint256 };
}

export type CertificateInfo = Omit<LoadedCertificate, 'cert' | 'key'>;

export type TlsReload = { ok: true; certificate: CertificateInfo } | { ok: false; error: string };

export class ServerTls {
  private current: LoadedCertificate;
  private server: HttpsServer | undefined;

  constructor(
    private readonly files: Required<ServerTlsFiles>,
    private readonly log?: Logger,
  ) {
    this.current = loadCertificate(files);
  }

  /** Options for `https.createServer` (fastify's `https`). */
  serverOptions(): HttpsServerOptions {
    return { cert: this.current.cert, key: this.current.key };
  }

  /** The listening server whose context `reload()` replaces. */
  attach(server: HttpsServer): void {
    this.server = server;
  }

  describe(): CertificateInfo {
    const { cert: _c, key: _k, ...info } = this.current;
    return info;
  }

  /** Re-reads the files; on success new connections get the new certificate. Never throws. */
  reload(): TlsReload {
    let next: LoadedCertificate;
    try {
      next = loadCertificate(this.files);
      const context: SecureContextOptions = { cert: next.cert, key: next.key };
      this.server?.setSecureContext(context);
    } catch (err) {
      const error = describeError(err);
      const files = { cert_file: this.files.cert_file, key_file: this.files.key_file };
      this.log?.error({ err: error, ...files }, 'TLS certificate reload failed: keeping the certificate in use');
      return { ok: false, error };
    }
    const changed = next.fingerprint256 !== this.current.fingerprint256;
    this.current = next;
    const certificate = this.describe();
    const message = changed ? 'TLS certificate reloaded' : 'TLS certificate reloaded (unchanged)';
    this.log?.info({ ...certificate, changed }, message);
    return { ok: true, certificate };
  }
}
