import { defineErrors, type ErrorSpec, type VigilError as AnyVigilError } from '../shared/errors/index.js';
import { COMMON_ERRORS } from '../shared/errors/common.js';
import { PROTOCOL_ERRORS } from '../firmware-protocol/errors.js';

/**
 * The collector's error registry: every code the cloud throws, with the HTTP status its API answers, what the
 * caller should do, and a default message. Wire codes (what a device sees) come unchanged from the catalogue in
 * firmware-protocol/errors.ts; codes of shared/ code from shared/errors/common.ts (no status: 500 if one reaches
 * the API).
 *
 * How call sites use it:
 *
 *   import { VigilError } from '../errors.js';            // this file, never shared/errors/index.js
 *   throw new VigilError('not_found', `device ${id} not found`, { details: { id } });
 *
 * Never pass a status: the code decides it. A new code is added here first (snake_case, never reworded once
 * released); an unknown code is a type error. Test errors with `isVigilError(err, 'code')` (any registry),
 * not `instanceof`.
 */
const CLOUD_ONLY = {
  // API requests (users and apps)
  invalid_request: { status: 400, retry: 'drop', message: 'the request is not valid' },
  conflict: { status: 409, retry: 'drop', message: 'the request conflicts with the current state' },
  not_acceptable: { status: 406, retry: 'drop', message: 'no acceptable representation' },
  request_timeout: { status: 408, retry: 'retry_later', message: 'the request was not received in time' },
  uri_too_long: { status: 414, retry: 'drop', message: 'a path segment of this URL is too long' },
  headers_too_large: { status: 431, retry: 'drop', message: 'the request line and headers are too large' },
  too_many_streams: { status: 429, retry: 'retry_later', message: 'too many live streams are open; close one first' },
  last_active_key: { status: 409, retry: 'drop', message: 'the only active key of a device cannot be revoked' },
  // owner accounts and web app sessions (cloud/accounts)
  invalid_credentials: { status: 401, retry: 'drop', message: 'wrong email or password' },
  session_expired: { status: 401, retry: 'drop', message: 'the session ended; log in again' },
  csrf_failed: { status: 403, retry: 'drop', message: 'cross-site request refused' },
  // blob store
  invalid_blob_key: { status: 400, retry: 'drop', message: 'not a valid blob key' },
  blob_size_mismatch: { status: 400, retry: 'drop', message: 'the blob has another size than announced' },
  blob_hash_mismatch: { status: 400, retry: 'drop', message: 'the blob bytes do not match the expected SHA-256' },
  // broker provisioning
  broker_provisioning_failed: { status: 503, retry: 'retry_later', message: 'the broker refused a command' },
  broker_unavailable: { status: 503, retry: 'retry_later', message: 'the broker admin API did not answer' },
  // device secrets
  secret_unreadable: { status: 500, retry: 'fix_config', message: 'a sealed device secret cannot be opened' },
  secrets_key_unavailable: { status: 500, retry: 'fix_config', message: 'the secrets key is missing or unreadable' },
  // push
  push_config_invalid: { status: 500, retry: 'fix_config', message: 'the push configuration is not valid' },
  push_fcm_key_invalid: { status: 500, retry: 'fix_config', message: 'the FCM key is not a PKCS#8 RSA key' },
  push_apns_key_invalid: { status: 500, retry: 'fix_config', message: 'the APNs auth key is not a PKCS#8 P-256 key' },
  push_fcm_token_failed: { status: 502, retry: 'retry_later', message: 'the FCM token endpoint refused or failed' },
  push_notification_invalid: { status: 400, retry: 'drop', message: 'not a valid notification' },
  // re-classification (LLM providers)
  llm_bad_response: { status: 502, retry: 'retry_later', message: 'the provider answer is not a reply' },
  llm_malformed_answer: { status: 502, retry: 'retry_later', message: 'the model answer is not JSON' },
  llm_off_schema: { status: 502, retry: 'retry_later', message: 'the model answer does not follow the answer schema' },
  llm_rate_limited: { status: 502, retry: 'retry_later', message: 'the provider rate-limited the request' },
  llm_unavailable: { status: 502, retry: 'retry_later', message: 'the provider failed (HTTP 5xx)' },
  llm_request_rejected: { status: 502, retry: 'drop', message: 'the provider rejected the request (HTTP 4xx)' },
  llm_timeout: { status: 504, retry: 'retry_later', message: 'the provider did not answer in time' },
  llm_aborted: { status: 503, retry: 'retry_later', message: 'the provider request was aborted' },
  llm_unreachable: { status: 502, retry: 'retry_later', message: 'the provider cannot be reached' },
  thumbnail_unreadable: { status: 422, retry: 'drop', message: 'the thumbnail cannot be decoded' },
  // command channel (cloud/commands)
  device_unknown: { status: 404, retry: 'drop', message: 'no such device in this tenant (or it is revoked)' },
  device_offline: { status: 504, retry: 'retry_later', message: 'the box did not answer before the command expired' },
  command_refused: { status: 422, retry: 'drop', message: 'the box refused the command' },
  command_failed: { status: 502, retry: 'drop', message: 'the box ran the command and it failed' },
  command_pending: { status: 409, retry: 'retry_later', message: 'the command has no result yet' },
  // model registry (cloud/models)
  model_unknown: { status: 404, retry: 'drop', message: 'no such model' },
  model_rejected: { status: 422, retry: 'drop', message: 'the file is not an ONNX model of the declared format' },
  upload_hash_mismatch: { status: 400, retry: 'drop', message: 'the model bytes do not have the announced SHA-256' },
  upload_size_mismatch: { status: 400, retry: 'drop', message: 'the model bytes do not have the announced size' },
  model_too_large: { status: 413, retry: 'drop', message: 'the model is larger than models.max_size' },
  model_not_uploaded: { status: 409, retry: 'drop', message: 'the model bytes have not been uploaded yet' },
  model_not_ready: { status: 409, retry: 'drop', message: 'the model is not finalized (ready) yet' },
  model_already_final: { status: 409, retry: 'drop', message: 'the model is finalized; its bytes cannot change' },
  upload_url_invalid: { status: 403, retry: 'drop', message: 'the upload URL is not signed by this collector' },
  upload_url_expired: { status: 403, retry: 'drop', message: 'the upload URL has expired; ask for a new one' },
  download_url_invalid: { status: 403, retry: 'drop', message: 'the download URL is not signed by this collector' },
  download_url_expired: { status: 403, retry: 'drop', message: 'the download URL has expired' },
} as const satisfies Record<string, ErrorSpec>;

export const CLOUD_ERRORS = { ...PROTOCOL_ERRORS, ...COMMON_ERRORS, ...CLOUD_ONLY };

export type CloudErrorCode = keyof typeof CLOUD_ERRORS;

/** The collector's VigilError: `new VigilError(code, message?, { details, cause })`, status from CLOUD_ERRORS. */
export class VigilError extends defineErrors(CLOUD_ERRORS) {}

/** The HTTP status the collector answers a VigilError with: its registry's status, 500 when it has none. */
export function httpStatusOf(err: AnyVigilError): number {
  const status = err.status ?? VigilError.spec(err.code)?.status;
  return status !== undefined && status >= 400 && status <= 599 ? status : 500;
}

export { describeError, isVigilError } from '../shared/errors/index.js';
