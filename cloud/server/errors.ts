import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isVigilError } from '../../shared/errors/index.js';
import { statusForCode, isWireErrorCode } from '../../firmware-protocol/errors.js';

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
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'service_unavailable',
};

export function errorBody(req: FastifyRequest, code: string, message: string, details?: Record<string, unknown>): ErrorBodyJson {
  return { error: { code, message, request_id: String(req.id), ...(details ? { details } : {}) } };
}

export function mapError(err: FastifyError | Error, req: FastifyRequest): { status: number; body: ErrorBodyJson } {
  if (isVigilError(err)) {
    const status = err.status >= 400 && err.status <= 599 ? err.status : isWireErrorCode(err.code) ? statusForCode(err.code) : 500;
    const message = status >= 500 && err.code === 'internal_error' ? 'internal error' : err.message;
    return { status, body: errorBody(req, err.code, message, err.details) };
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    const { message, field } = validationMessage(fe);
    return { status: 400, body: errorBody(req, 'invalid_request', message, { field }) };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: errorBody(req, 'payload_too_large', 'request body is larger than this endpoint accepts') };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: errorBody(req, 'unsupported_media_type', fe.message) };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: errorBody(req, 'invalid_json', fe.message) };
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) return { status: 400, body: errorBody(req, 'invalid_json', `request body is not valid JSON: ${err.message}`) };
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) return { status, body: errorBody(req, STATUS_CODES[status] ?? 'invalid_request', fe.message) };
  return { status: status >= 500 && status <= 599 ? status : 500, body: errorBody(req, status === 503 ? 'service_unavailable' : 'internal_error', 'internal error') };
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
