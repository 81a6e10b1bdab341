import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Agent, Pool } from 'undici';
import { describeError, VigilError } from '../errors.js';

/**
 * The box's one TLS client configuration, from the `uplink` config section, shared by everything that talks to the
 * collector: `vigil-agent pair` (the pairing request and the signed check), `doctor` (the signed heartbeat) and the
 * daemon (HTTPS transport, and the MQTT connection's TLS).
 *
 *   uplink.ca_file    PEM CA bundle trusted INSTEAD of the system CAs (a collector or broker with a private CA)
 *   uplink.cert_file  PEM client certificate (chain) presented when the endpoint asks for one (mutual TLS)
 *   uplink.key_file   its private key
 *
 * Files are read once per command / daemon start; a missing or unreadable file, or half a client certificate, is
 * `config_invalid` naming the key.
 */
export interface UplinkTlsConfig {
  ca_file?: string | undefined;
  cert_file?: string | undefined;
  key_file?: string | undefined;
}

/** What node's TLS and undici's `connect` take. */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

function read(path: string, key: keyof UplinkTlsConfig): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const message = `uplink.${key}: cannot read ${path}: ${describeError(err)}`;
    throw new VigilError('config_invalid', message, { details: { path: `uplink.${key}`, file: path } });
  }
}

export function loadClientTls(u: UplinkTlsConfig): ClientTls {
  if ((u.cert_file === undefined) !== (u.key_file === undefined)) {
    const message = 'uplink.cert_file and uplink.key_file go together: set both or neither';
    const path = u.cert_file === undefined ? 'uplink.cert_file' : 'uplink.key_file';
    throw new VigilError('config_invalid', message, { details: { path } });
  }
  const tls: ClientTls = {};
  if (u.ca_file !== undefined) tls.ca = read(u.ca_file, 'ca_file');
  if (u.cert_file !== undefined && u.key_file !== undefined) {
    tls.cert = read(u.cert_file, 'cert_file');
    tls.key = read(u.key_file, 'key_file');
  }
  try {
    // Parses the PEM now, so a wrong file fails here with the key's name rather than at the first connection.
    createSecureContext(tls);
  } catch (err) {
    const key = tls.cert && /key|cert/i.test(describeError(err)) ? 'cert_file / key_file' : 'ca_file';
    const message = `uplink.${key}: not usable PEM: ${describeError(err)}`;
    throw new VigilError('config_invalid', message, { details: { path: `uplink.${key}` } });
  }
  return tls;
}

export interface HttpsClientOptions {
  tls?: ClientTls | undefined;
  /** Headers and body timeout, ms. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Parallel keep-alive connections (pools). */
  connections?: number;
}

function connect(o: HttpsClientOptions): { timeout: number } & ClientTls {
  return { timeout: o.connectTimeoutMs ?? 10_000, ...(o.tls ?? {}) };
}

/** A keep-alive connection pool to one collector origin (the HTTPS transport). */
export function httpsPool(origin: string, o: HttpsClientOptions = {}): Pool {
  const timeout = o.timeoutMs ?? 30_000;
  return new Pool(origin, {
    connections: o.connections ?? 4,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    connect: connect(o),
  });
}

/** A dispatcher for one-off requests (pairing); close it after use. */
export function httpsAgent(o: HttpsClientOptions = {}): Agent {
  const timeout = o.timeoutMs ?? 30_000;
  return new Agent({ headersTimeout: timeout, bodyTimeout: timeout, connect: connect(o) });
}

/** Certificate verification failures (node's codes), which a private CA in uplink.ca_file usually fixes. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * A hint for a TLS failure of a request to the collector, or undefined when `err` is not one: an untrusted
 * certificate → uplink.ca_file; a name mismatch, an expired certificate, a refused client certificate → what to check.
 */
export function tlsHint(err: unknown): string | undefined {
  const codes: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string') codes.push(c);
    const m = (e as { message?: unknown }).message;
    const refused = /alert (certificate required|handshake failure|bad certificate|unknown ca)/i;
    if (typeof m === 'string' && refused.test(m)) codes.push('CLIENT_CERT_REFUSED');
  }
  if (codes.some((c) => UNTRUSTED.has(c))) {
    return "the collector's certificate is not signed by a CA this box trusts: set uplink.ca_file to the PEM of its CA";
  }
  if (codes.includes('ERR_TLS_CERT_ALTNAME_INVALID')) {
    return "the collector's certificate does not name this host: use the URL its certificate was issued for";
  }
  if (codes.includes('CERT_HAS_EXPIRED') || codes.includes('CERT_NOT_YET_VALID')) {
    return "the collector's certificate is expired or not yet valid (or this box's clock is wrong)";
  }
  if (codes.includes('CLIENT_CERT_REFUSED')) {
    return "the TLS endpoint refused this box's client certificate (or wants one): check uplink.cert_file / key_file";
  }
  return undefined;
}
