import { deriveContextKey, LinkSigner } from '../auth/signed-links.js';
import { VigilError } from '../errors.js';

/**
 * Signed, expiring URLs of the model registry, HMAC-SHA256 under a key derived from the collector's secrets key (as
 * the thumbnail links of cloud/notify/links.ts), so every collector sharing a database accepts the others' URLs:
 *
 *   upload    PUT /v1/models/{id}/upload?exp=<unix s>&sig=<base64url>   over `v1\nupload\n{id}\n{exp}`
 *   download  GET /v1/models/{id}/file?exp=<unix s>&sig=<base64url>     over `v1\ndownload\n{id}\n{exp}`
 *
 * The purpose is part of the signed text, so an upload URL never opens a download or the reverse. The signature is
 * compared in constant time; a bad one is `*_url_invalid`, a good one past its `exp` is `*_url_expired`.
 */
const CONTEXT = 'vigil model links v1';

export type ModelLinkPurpose = 'upload' | 'download';

const PATHS: Record<ModelLinkPurpose, string> = { upload: 'upload', download: 'file' };
const CODES = {
  upload: { invalid: 'upload_url_invalid', expired: 'upload_url_expired' },
  download: { invalid: 'download_url_invalid', expired: 'download_url_expired' },
} as const;

export function deriveModelLinkKey(secretsKey: Buffer): Buffer {
  return deriveContextKey(secretsKey, CONTEXT);
}

export interface SignedModelLink {
  /** Path and query, relative to the collector's base URL. */
  path: string;
  /** Unix milliseconds after which the link is refused. */
  expiresAt: number;
}

export class ModelLinks {
  private readonly signer: LinkSigner;

  constructor(key: Buffer) {
    this.signer = new LinkSigner(key);
  }

  /** The signed path (`/v1/models/{id}/upload?…` or `/v1/models/{id}/file?…`) valid for `ttlMs` from `now`. */
  sign(purpose: ModelLinkPurpose, modelId: string, now: number, ttlMs: number): SignedModelLink {
    const { exp, sig } = this.signer.sign([purpose, modelId], now, ttlMs);
    const path = `/v1/models/${encodeURIComponent(modelId)}/${PATHS[purpose]}?exp=${exp}&sig=${sig}`;
    return { path, expiresAt: exp * 1000 };
  }

  /** Throws `*_url_invalid` unless `sig` is this collector's signature of (purpose, id, exp); `*_url_expired` after. */
  check(
    purpose: ModelLinkPurpose,
    modelId: string,
    exp: string | undefined,
    sig: string | undefined,
    now: number,
  ): void {
    const codes = CODES[purpose];
    const verdict = this.signer.check([purpose, modelId], exp, sig, now);
    if (verdict === 'malformed')
      throw new VigilError(codes.invalid, `the ${purpose} URL of ${modelId} has no valid exp and sig parameters`);
    if (verdict === 'invalid')
      throw new VigilError(codes.invalid, `the ${purpose} URL of ${modelId} is not signed by this collector`);
    if (verdict === 'expired') {
      const at = new Date(Number(exp) * 1000).toISOString();
      throw new VigilError(codes.expired, `the ${purpose} URL of ${modelId} expired at ${at}`, {
        details: { expired_at: at },
      });
    }
  }
}
