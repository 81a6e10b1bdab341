import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { VigilError } from '../errors.js';

/**
 * Password hashing with scrypt (node:crypto; memory-hard, no native add-on to keep up to date). A hash is stored as a
 * PHC-style string that carries its parameters, so they can be raised later without locking anyone out:
 *
 *   $scrypt$ln=17,r=8,p=1$<salt, 16 bytes base64>$<key, 32 bytes base64>
 *
 * Verification recomputes with the stored parameters and compares in constant time. `needsRehash` tells the login
 * path to store a new hash when the configured parameters went up. Passwords are NFC-normalised first (the same
 * password typed on another keyboard gives the same bytes).
 *
 * Each hash holds 128 × N × r bytes (128 MiB with the defaults), so hashes run `concurrency` at a time; the rest wait.
 */
export interface ScryptParams {
  /** log2 of N. */
  ln: number;
  r: number;
  p: number;
}

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Passwords longer than this (UTF-8 bytes) are refused: hashing them is work for nothing. */
export const PASSWORD_MAX_BYTES = 1024;
/** Stored hashes with parameters outside these are treated as unreadable (a tampered row must not exhaust memory). */
const LIMITS = { ln: [10, 22], r: [1, 32], p: [1, 16] } as const;

const HASH_RE = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function b64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

function normalise(password: string): Buffer {
  return Buffer.from(password.normalize('NFC'), 'utf8');
}

function derive(password: Buffer, salt: Buffer, params: ScryptParams, keyLength: number): Promise<Buffer> {
  const n = 2 ** params.ln;
  const options: ScryptOptions = { N: n, r: params.r, p: params.p, maxmem: 256 * n * params.r + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parseHash(hash: string): ParsedHash | undefined {
  const m = HASH_RE.exec(hash);
  if (!m) return undefined;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  for (const k of ['ln', 'r', 'p'] as const) if (params[k] < LIMITS[k][0] || params[k] > LIMITS[k][1]) return undefined;
  const key = Buffer.from(m[5]!, 'base64');
  if (key.length < 16) return undefined;
  return { params, salt: Buffer.from(m[4]!, 'base64'), key };
}

/**
 * Counting semaphore: at most `limit` functions run at once, up to `maxWaiting` others wait in order; beyond, 503
 * `service_unavailable` (a flood of logins from many addresses queues no unbounded work).
 */
class Gate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
  ) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) {
      if (this.waiting.length >= this.maxWaiting)
        throw new VigilError('service_unavailable', 'too many logins at once; try again in a few seconds', {
          details: { waiting: this.waiting.length },
        });
      await new Promise<void>((r) => this.waiting.push(r));
    } else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

export class PasswordHasher {
  private readonly gate: Gate;

  /** `concurrency` hashes at once; `maxWaiting` more may wait for their turn (default 32 per running one). */
  constructor(
    readonly params: ScryptParams,
    concurrency = 2,
    maxWaiting = 32 * concurrency,
  ) {
    this.gate = new Gate(concurrency, maxWaiting);
  }

  /** A new salted hash with the configured parameters. */
  hash(password: string): Promise<string> {
    return this.gate.run(async () => {
      const salt = randomBytes(SALT_BYTES);
      const key = await derive(normalise(password), salt, this.params, KEY_BYTES);
      const { ln, r, p } = this.params;
      return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(key)}`;
    });
  }

  /** True when `password` matches `hash` (constant-time comparison); false for an unreadable hash. */
  verify(password: string, hash: string): Promise<boolean> {
    const parsed = parseHash(hash);
    if (!parsed) return this.verifyNobody(password);
    return this.gate.run(async () => {
      const key = await derive(normalise(password), parsed.salt, parsed.params, parsed.key.length);
      return timingSafeEqual(key, parsed.key);
    });
  }

  /**
   * The work of a verification with the configured parameters, for a login whose email is unknown: it answers
   * false in about the time a known email with a wrong password takes.
   */
  async verifyNobody(password: string): Promise<boolean> {
    const salt = randomBytes(SALT_BYTES);
    await this.gate.run(() => derive(normalise(password), salt, this.params, KEY_BYTES));
    return false;
  }

  /** True when `hash` was made with weaker parameters than the configured ones (re-hash at the next login). */
  needsRehash(hash: string): boolean {
    const parsed = parseHash(hash);
    if (!parsed) return true;
    const { ln, r, p } = parsed.params;
    return ln < this.params.ln || r < this.params.r || p < this.params.p;
  }
}

/** The rules a new password must meet: at least `minLength` characters, at most PASSWORD_MAX_BYTES bytes. */
export function checkNewPassword(password: string, minLength: number): void {
  const chars = [...password.normalize('NFC')].length;
  if (chars < minLength)
    throw new VigilError(
      'invalid_request',
      `the password is ${chars} characters long; it needs at least ${minLength} (accounts.password_min_length)`,
      { details: { field: 'password', min_length: minLength } },
    );
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES)
    throw new VigilError('invalid_request', `the password is longer than ${PASSWORD_MAX_BYTES} bytes`, {
      details: { field: 'password' },
    });
}
