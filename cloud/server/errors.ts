import { STATUS_CODES as HTTP_STATUS_TEXT } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ulid } from '../../shared/ids/index.js';
import { httpStatusOf, isVigilError } from '../errors.js';

/**
 * One error shape for every response of the collector: `{error: {code, message, request_id, details?}}`.
 * VigilErrors keep their code and status; schema validation failures are 400 `invalid_request` naming the field;
 * unknown routes are 404 `not_found`; anything unexpected is 500 `internal_error` with the cause only in the log.
 */
export interface ErrorBodyJson {
  error: { code: string; message: string; request_id: string; details?: Record<string, unknown> };
}

interface AjvIssue {
  instancePath?: string;
  message?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
}

/** `querystring/limit: must be <= 200` from fastify's validation error. */
export function validationMessage(err: FastifyError): { message: string; field: string } {
  const issue = (err.validation?.[0] ?? {}) as AjvIssue;
  const where = err.validationContext ?? 'request';
  const prop = issue.params?.missingProperty ?? issue.params?.additionalProperty;
  const path = (issue.instancePath ?? '') + (prop ? `/${prop}` : '');
  const field = `${where}${path}`;
  return { field, message: `${field}: ${issue.message ?? 'is invalid'}` };
}

const STATUS_CODES: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
  429: 'rate_limited',
  503: 'service_unavailable',
};

export function errorBody(
  req: FastifyRequest,
  code: string,
  message: string,
  details?: Record<string, unknown>,
): ErrorBodyJson {
  return { error: { code, message, request_id: String(req.id), ...(details ? { details } : {}) } };
}

export function mapError(err: FastifyError | Error, req: FastifyRequest): { status: number; body: ErrorBodyJson } {
  if (isVigilError(err)) {
    const status = httpStatusOf(err);
    const message = status >= 500 && err.code === 'internal_error' ? 'internal error' : err.message;
    return { status, body: errorBody(req, err.code, message, err.details) };
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    const { message, field } = validationMessage(fe);
    return { status: 400, body: errorBody(req, 'invalid_request', message, { field }) };
  }
  switch (fe.code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return {
        status: 414,
        body: errorBody(req, 'uri_too_long', 'a path segment of this URL is longer than the collector accepts'),
      };
    case 'FST_ERR_BAD_URL':
      return { status: 400, body: errorBody(req, 'invalid_request', `the URL is not valid: ${fe.message}`) };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        body: errorBody(req, 'payload_too_large', 'request body is larger than this endpoint accepts'),
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: errorBody(req, 'unsupported_media_type', fe.message) };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: errorBody(req, 'invalid_json', fe.message) };
  }
  if (err instanceof SyntaxError && fe.statusCode === 400)
    return { status: 400, body: errorBody(req, 'invalid_json', `request body is not valid JSON: ${err.message}`) };
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500)
    return { status, body: errorBody(req, STATUS_CODES[status] ?? 'invalid_request', fe.message) };
  return {
    status: status >= 500 && status <= 599 ? status : 500,
    body: errorBody(req, status === 503 ? 'service_unavailable' : 'internal_error', 'internal error'),
  };
}

/** Headers every response carries, also the ones written before any route ran. */
export const COMMON_HEADERS = { 'x-content-type-options': 'nosniff' } as const;

/**
 * Fastify's `frameworkErrors` option: errors found before a route is chosen (a path segment over maxParamLength,
 * 414; a URL that does not decode, 400) get the same body and headers as any other error.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = mapError(err, req);
  req.log.info({ code: body.error.code, status }, 'request rejected');
  void reply
    .status(status)
    .headers({ ...COMMON_HEADERS, 'x-request-id': String(req.id) })
    .type('application/json; charset=utf-8')
    .send(body);
}

const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'headers_too_large',
    message: 'the request line and headers are larger than the collector accepts',
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'the request was not received in time' },
};

/**
 * Fastify's `clientErrorHandler` (node's 'clientError': the request could not even be parsed, so no route, no
 * request object): a raw response in the documented shape, `{error:{code,message,request_id}}`, then close.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const known = CLIENT_ERRORS[err.code ?? ''] ?? {
    status: 400,
    code: 'invalid_request',
    message: 'the request is not valid HTTP/1.1',
  };
  const requestId = `req_${ulid()}`;
  const body = JSON.stringify({
    error: { code: known.code, message: known.message, request_id: requestId },
  } satisfies ErrorBodyJson);
  const head = [
    `HTTP/1.1 ${known.status} ${HTTP_STATUS_TEXT[known.status] ?? 'Bad Request'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    `x-request-id: ${requestId}`,
    ...Object.entries(COMMON_HEADERS).map(([k, v]) => `${k}: ${v}`),
    'connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = mapError(err, req);
    if (status >= 500) req.log.error({ err, code: body.error.code }, 'request failed');
    else req.log.info({ code: body.error.code, status }, 'request rejected');
    if (status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', '5');
    return reply.status(status).type('application/json; charset=utf-8').send(body);
  });
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
    return reply.status(404).send(errorBody(req, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
}
