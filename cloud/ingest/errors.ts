import { VigilError } from '../../shared/errors/index.js';
import { statusForCode } from '../../firmware-protocol/errors.js';

/** A wire error (firmware-protocol catalogue): the HTTP status comes from the catalogue, so both transports agree. */
export function wireError(code: string, message: string, details?: Record<string, unknown>): VigilError {
  return new VigilError(code, message, details === undefined ? { status: statusForCode(code) } : { status: statusForCode(code), details });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a JSON body strictly: invalid UTF-8 or JSON is `invalid_json` naming the position. */
export function decodeJsonBody(body: Uint8Array, what: string): unknown {
  if (body.length === 0) throw wireError('invalid_json', `${what}: the body is empty; expected a JSON object`);
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw wireError('invalid_json', `${what}: the body is not valid UTF-8`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw wireError('invalid_json', `${what}: not valid JSON (${(err as Error).message})`);
  }
}

/** `unsupported_version` for a body whose `v` is a number other than 1 (anything else is left to the schema). */
export function checkVersion(value: unknown, what: string): void {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const v = (value as { v?: unknown }).v;
    if (typeof v === 'number' && v !== 1) throw wireError('unsupported_version', `${what}: /v is ${v}; this collector speaks protocol v1`);
  }
}
