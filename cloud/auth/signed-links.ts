import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring links: a URL that works without an API token until `exp` (unix seconds), carrying `sig`, the
 * base64url HMAC-SHA256 of `v1\n<subject parts, one per line>\n<exp>` under a key derived from the collector's
 * secrets key for one context (so every collector sharing that key accepts the others' links, and a key of one
 * context opens nothing of another). The signature is compared in constant time. Used by the thumbnail links of
 * pushes (notify/links.ts) and the model registry's upload and download URLs (models/links.ts).
 */
export function deriveContextKey(secretsKey: Buffer, context: string): Buffer {
  return createHmac('sha256', secretsKey).update(context).digest();
}

/** malformed: exp or sig missing or not of their form; invalid: not this key's signature. */
export type LinkCheck = 'ok' | 'malformed' | 'invalid' | 'expired';

export class LinkSigner {
  constructor(private readonly key: Buffer) {}

  private mac(subject: readonly string[], exp: number): Buffer {
    return createHmac('sha256', this.key)
      .update(`v1\n${subject.join('\n')}\n${exp}`)
      .digest();
  }

  /** `exp` and `sig` of a link valid for `ttlMs` from `now`. */
  sign(subject: readonly string[], now: number, ttlMs: number): { exp: number; sig: string } {
    const exp = Math.floor((now + ttlMs) / 1000);
    return { exp, sig: this.mac(subject, exp).toString('base64url') };
  }

  /** `invalid` unless `sig` is this key's signature of (subject, exp); `expired` once exp has passed; else `ok`. */
  check(subject: readonly string[], exp: string | undefined, sig: string | undefined, now: number): LinkCheck {
    if (exp === undefined || sig === undefined || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig))
      return 'malformed';
    const expS = Number(exp);
    const given = Buffer.from(sig, 'base64url');
    const want = this.mac(subject, expS);
    if (given.length !== want.length || !timingSafeEqual(given, want)) return 'invalid';
    return expS * 1000 < now ? 'expired' : 'ok';
  }
}
