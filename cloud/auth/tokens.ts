import { createHash } from 'node:crypto';
import { VigilError } from '../errors.js';
import { randomToken } from '../../shared/ids/index.js';
import type { ApiTokenRecord, Role, Store } from '../store/store.js';

/**
 * API tokens for apps: `vgt_` + 32 random bytes (base64url). Only the SHA-256 is stored, so the token is shown once,
 * at creation. A token belongs to one tenant and has a role: `reader` sees that tenant's events and devices,
 * `admin` may also create pairing codes and manage devices.
 */
export const TOKEN_PREFIX = 'vgt_';
const TOKEN_RE = /^vgt_[A-Za-z0-9_-]{43}$/;
const TENANT_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function checkTenantId(tenantId: string): string {
  if (!TENANT_RE.test(tenantId))
    throw new VigilError(
      'invalid_request',
      `tenant "${tenantId.slice(0, 80)}" must be 1-63 chars of [a-z0-9_-], starting alphanumeric`,
    );
  return tenantId;
}

export async function createApiToken(
  store: Store,
  input: { tenantId: string; name: string; role: Role; now?: number },
): Promise<{ token: string; record: ApiTokenRecord }> {
  if (input.name.trim() === '' || input.name.length > 128)
    throw new VigilError('invalid_request', 'token name must be 1-128 characters');
  const token = TOKEN_PREFIX + randomToken(32);
  const record = await store.createApiToken({
    tenantId: checkTenantId(input.tenantId),
    name: input.name,
    role: input.role,
    tokenSha256: tokenSha256(token),
    now: input.now ?? Date.now(),
  });
  return { token, record };
}

export interface AuthContext {
  tenantId: string;
  role: Role;
  /** The API token's id; for a login session its id (`ses_…`), for a signed link `signed-link`. */
  tokenId: string;
  /** How the caller authenticated: an API token (default), a login session (cookie), a signed link. */
  via?: 'token' | 'session' | 'link';
  /** The logged-in user (`usr_…`) of a session. */
  userId?: string;
}

function unauthorized(message: string): VigilError {
  return new VigilError('unauthorized', message);
}

/** Resolves an `Authorization` header to a tenant and role; throws 401 `unauthorized` otherwise. */
export async function authenticate(store: Store, authorization: string | undefined): Promise<AuthContext> {
  if (!authorization) throw unauthorized('missing credentials: send Authorization: Bearer <api token>');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!m) throw unauthorized('the Authorization header must be "Bearer <api token>"');
  const token = m[1]!;
  if (!TOKEN_RE.test(token)) throw unauthorized('invalid API token');
  const record = await store.findApiToken(tokenSha256(token));
  if (!record || record.revokedAt !== null) throw unauthorized('invalid or revoked API token');
  return { tenantId: record.tenantId, role: record.role, tokenId: record.id };
}
