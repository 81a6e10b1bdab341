import { VigilError, type CloudErrorCode } from '../errors.js';
import { JSON_MAX_DEPTH } from '../../firmware-protocol/limits.js';
import { scanJson } from './json-limits.js';

/** A wire error (firmware-protocol catalogue): the HTTP status comes from the catalogue, so both transports agree. */
export function wireError(code: CloudErrorCode, message: string, details?: Record<string, unknown>): VigilError {
  return new VigilError(code, message, { details });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a JSON body strictly: invalid UTF-8 or JSON is `invalid_json` naming the position; nesting deeper than
 * JSON_MAX_DEPTH, or a string holding U+0000, is `invalid_message`, found by a scan of the bytes before anything is
 * parsed. The size limit of the
 * body's kind is the caller's to check first.
 */
export function decodeJsonBody(body: Uint8Array, what: string): unknown {
  if (body.length === 0) throw wireError('invalid_json', `${what}: the body is empty; expected a JSON object`);
  const scan = scanJson(body, JSON_MAX_DEPTH);
  if (scan.depth > JSON_MAX_DEPTH) {
    throw wireError(
      'invalid_message',
      `${what}: nesting depth of arrays/objects is over ${JSON_MAX_DEPTH} (protocol limit JSON_MAX_DEPTH)`,
      {
        limit: JSON_MAX_DEPTH,
      },
    );
  }
  if (scan.nul)
    throw wireError('invalid_message', `${what}: a string holds U+0000 (\\u0000); protocol strings never contain NUL`);
  return parseJson(body, what);
}

/**
 * UTF-8 + JSON.parse without the depth check, only to read the ids of a message already refused (so its ack can
 * name them). JSON.parse itself does not recurse; the caller reads top-level fields only.
 */
export function parseJson(body: Uint8Array, what: string): unknown {
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
    if (typeof v === 'number' && v !== 1)
      throw wireError('unsupported_version', `${what}: /v is ${v}; this collector speaks protocol v1`);
  }
}
