import { VigilError } from '../errors.js';
import type { EventCursor } from '../store/store.js';

/** Opaque page cursor: base64url of `[started_at ms, event id]`, the position after the page's last row. */
export function encodeCursor(c: EventCursor): string {
  return Buffer.from(JSON.stringify([c.startedAt, c.id]), 'utf8').toString('base64url');
}

export function decodeCursor(text: string): EventCursor {
  try {
    const v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      Number.isSafeInteger(v[0]) &&
      typeof v[1] === 'string' &&
      v[1].length <= 128
    ) {
      return { startedAt: v[0] as number, id: v[1] };
    }
  } catch {
    // fall through
  }
  throw new VigilError(
    'invalid_request',
    'querystring/cursor: not a cursor this API issued (use next_cursor unchanged)',
    { details: { field: 'querystring/cursor' } },
  );
}
