import { randomBytes, randomInt } from 'node:crypto';

/**
 * Time-sortable identifiers (ULID layout: 48-bit millisecond time + 80 random bits, Crockford base32, 26 chars).
 * Ids made in the same millisecond by one process stay ordered: the random part is incremented.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ULID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/;

let lastTime = -1;
let lastRandom: number[] = [];

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function freshRandom(): number[] {
  const bytes = randomBytes(16);
  const digits: number[] = [];
  for (let i = 0; i < 16; i++) digits.push((bytes[i] ?? 0) % 32);
  return digits;
}

function increment(digits: number[]): number[] {
  const next = digits.slice();
  for (let i = next.length - 1; i >= 0; i--) {
    const d = (next[i] ?? 0) + 1;
    if (d < 32) {
      next[i] = d;
      return next;
    }
    next[i] = 0;
  }
  return freshRandom(); // overflow of 2^80 ids in one ms: start over
}

/** A new ULID. `nowMs` lets callers use an adjusted clock. */
export function ulid(nowMs: number = Date.now()): string {
  if (nowMs <= lastTime) {
    lastRandom = increment(lastRandom);
  } else {
    lastTime = nowMs;
    lastRandom = freshRandom();
  }
  return encodeTime(Math.max(nowMs, lastTime)) + lastRandom.map((d) => ALPHABET[d]).join('');
}

export function isUlid(value: string): boolean {
  return ULID_RE.test(value);
}

/** Milliseconds since the epoch encoded in a ULID. */
export function ulidTime(id: string): number {
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + ALPHABET.indexOf(id[i] ?? '0');
  return t;
}

/** An event id: `evt_` + ULID. Stable for the life of the event (new → update → end). */
export function newEventId(nowMs?: number): string {
  return `evt_${ulid(nowMs)}`;
}

/** A device id: `dev_` + ULID. Issued by the collector at pairing. */
export function newDeviceId(nowMs?: number): string {
  return `dev_${ulid(nowMs)}`;
}

/** A random token of `bytes` bytes, base64url. For nonces, secrets and API tokens. */
export function randomToken(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

/** A short human-typeable code (no 0/O/1/I/L), e.g. for pairing: `K7QX-M2PD`. */
export function humanCode(groups = 2, groupLength = 4): string {
  const alphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
  const parts: string[] = [];
  for (let g = 0; g < groups; g++) {
    let s = '';
    for (let i = 0; i < groupLength; i++) s += alphabet[randomInt(alphabet.length)];
    parts.push(s);
  }
  return parts.join('-');
}
