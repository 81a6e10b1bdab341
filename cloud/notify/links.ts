import { deriveContextKey, LinkSigner } from '../auth/signed-links.js';

/**
 * Signed, expiring thumbnail links for pushes: a phone's notification extension fetches the picture without an API
 * token. `GET /v1/events/{id}/thumbnail?exp=<unix s>&sig=<base64url HMAC-SHA256>` over `v1\n<event id>\n<exp>`.
 * The key is derived from the collector's secrets key, so every collector sharing a database (which must share
 * that key) accepts the links the others made. A bad, tampered or expired link answers 404, as a missing picture.
 */
const CONTEXT = 'vigil thumbnail links v1';

export function deriveLinkKey(secretsKey: Buffer): Buffer {
  return deriveContextKey(secretsKey, CONTEXT);
}

export class ThumbnailLinks {
  private readonly signer: LinkSigner;

  constructor(
    key: Buffer,
    /** Base URL apps reach the collector at (config server.public_url, else the bound address). */
    private readonly baseUrl: () => string,
    private readonly ttlMs: number,
  ) {
    this.signer = new LinkSigner(key);
  }

  /** The signed URL of an event's thumbnail, valid for the configured lifetime from `now`. */
  sign(eventId: string, now: number): string {
    const { exp, sig } = this.signer.sign([eventId], now, this.ttlMs);
    const base = this.baseUrl().replace(/\/+$/, '');
    return `${base}/v1/events/${encodeURIComponent(eventId)}/thumbnail?exp=${exp}&sig=${sig}`;
  }

  /** True when `sig` is this collector's signature of (event, exp) and exp has not passed. */
  verify(eventId: string, exp: string | undefined, sig: string | undefined, now: number): boolean {
    return this.signer.check([eventId], exp, sig, now) === 'ok';
  }
}

/** A URL fit for logs: a signed link's signature replaced (the link would open the picture until it expires). */
export function redactLinkSignature(url: string): string {
  return url.replace(/([?&]sig=)[^&#]*/g, '$1[redacted]');
}
