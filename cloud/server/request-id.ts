import type { IncomingMessage } from 'node:http';
import { ulid } from '../../shared/ids/index.js';

/**
 * Request ids: a caller's `X-Request-Id` is honoured when it looks like an id (so a trace crosses a proxy or an
 * app), otherwise one is made. It is logged as `request_id` on every line of the request, echoed in the
 * `X-Request-Id` response header and put in every error body.
 */
const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdFor(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  const v = Array.isArray(given) ? given[0] : given;
  return v !== undefined && ACCEPTABLE.test(v) ? v : `req_${ulid()}`;
}
