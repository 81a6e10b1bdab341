import { createDecipheriv, createECDH, hkdfSync, randomBytes, type ECDH } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify, type JWTPayload } from 'jose';
import { systemClock, type Clock } from '../../../shared/clock/index.js';

/**
 * A local Web Push service (RFC 8030) for tests that also plays the browser: it checks VAPID (RFC 8292 — the
 * `vapid t=…, k=…` JWT verified with the key in `k`, `aud` = this origin, `exp` within 24 h, `sub` a mailto:/https:
 * contact, `k` equal to the subscription's applicationServerKey), the TTL / Urgency / Topic / Content-Encoding
 * headers, and DECRYPTS the aes128gcm body (RFC 8188 + RFC 8291) with the subscription's private key and auth
 * secret, recording the plaintext. The decryption is written here on node:crypto (ECDH, HKDF, AES-128-GCM),
 * independently of the sender's library, so a wrongly encrypted payload fails.
 */
export interface WebPushSubscriptionJson {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

interface Sub {
  id: string;
  ecdh: ECDH;
  publicKey: Buffer;
  auth: Buffer;
  applicationServerKey: string | undefined;
  gone: boolean;
  scripted: Array<{ status: number; retryAfterS?: number }>;
}

export interface WebPushDelivery {
  subscriptionId: string;
  endpoint: string;
  plaintext: string;
  headers: Record<string, string>;
  vapid: JWTPayload;
  at: number;
}

const URGENCY = new Set(['very-low', 'low', 'normal', 'high']);

export class WebPushTestServer {
  readonly deliveries: WebPushDelivery[] = [];
  readonly requests: Array<{ subscriptionId: string; status: number; reason?: string; at: number }> = [];
  private readonly subs = new Map<string, Sub>();
  private readonly clock: Clock;
  private server!: Server;
  url = '';

  private constructor(clock: Clock) {
    this.clock = clock;
  }

  static async start(options: { clock?: Clock } = {}): Promise<WebPushTestServer> {
    const s = new WebPushTestServer(options.clock ?? systemClock);
    s.server = createServer((req, res) => {
      void s.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) s.answer(res, '?', 500, 'internal error');
        process.stderr.write(`webpush test server: ${String(err)}\n`);
      });
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  /** What PushManager.subscribe() gives the app: a fresh key pair and auth secret, bound to the VAPID key. */
  subscribe(applicationServerKey?: string): WebPushSubscriptionJson {
    const id = randomBytes(12).toString('base64url');
    const ecdh = createECDH('prime256v1');
    const publicKey = ecdh.generateKeys();
    const auth = randomBytes(16);
    this.subs.set(id, { id, ecdh, publicKey, auth, applicationServerKey, gone: false, scripted: [] });
    return {
      endpoint: `${this.url}/push/${id}`,
      keys: { p256dh: publicKey.toString('base64url'), auth: auth.toString('base64url') },
    };
  }

  /** The user unsubscribed: 410 Gone from now on. */
  expire(sub: WebPushSubscriptionJson): void {
    this.sub(sub).gone = true;
  }

  script(sub: WebPushSubscriptionJson, ...failures: Array<{ status: number; retryAfterS?: number }>): void {
    this.sub(sub).scripted.push(...failures);
  }

  private sub(s: WebPushSubscriptionJson): Sub {
    const found = this.subs.get(s.endpoint.split('/').pop() ?? '');
    if (!found) throw new Error(`unknown subscription ${s.endpoint}`);
    return found;
  }

  answer(res: ServerResponse, id: string, status: number, reason?: string, headers: Record<string, string> = {}): void {
    this.requests.push({ subscriptionId: id, status, at: this.clock.now(), ...(reason ? { reason } : {}) });
    res.writeHead(status, { ...headers, ...(reason ? { 'content-type': 'application/json' } : {}) });
    if (reason) res.end(JSON.stringify({ code: status, reason }));
    else res.end();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const m = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    const id = m?.[1] ?? '?';
    if (req.method !== 'POST') return this.answer(res, id, 405, 'method not allowed');
    const sub = m ? this.subs.get(id) : undefined;
    if (!sub) return this.answer(res, id, 404, 'subscription not found');
    if (sub.gone) return this.answer(res, id, 410, 'subscription expired');

    // VAPID (RFC 8292 §3): Authorization: vapid t=<jwt>, k=<p256 public key>
    const auth = String(req.headers.authorization ?? '');
    const t = /(?:^|[\s,])t=([^,\s]+)/.exec(auth)?.[1];
    const k = /(?:^|[\s,])k=([^,\s]+)/.exec(auth)?.[1];
    if (!/^vapid\s/i.test(auth) || !t || !k) return this.answer(res, id, 401, 'missing vapid authorization');
    const point = Buffer.from(k, 'base64url');
    if (point.length !== 65 || point[0] !== 4)
      return this.answer(res, id, 403, 'vapid k is not an uncompressed P-256 point');
    if (sub.applicationServerKey !== undefined && sub.applicationServerKey !== k)
      return this.answer(res, id, 403, 'vapid key does not match the subscription');
    let vapid: JWTPayload;
    try {
      const key = await importJWK(
        {
          kty: 'EC',
          crv: 'P-256',
          x: point.subarray(1, 33).toString('base64url'),
          y: point.subarray(33).toString('base64url'),
        },
        'ES256',
      );
      vapid = (
        await jwtVerify(t, key, {
          algorithms: ['ES256'],
          audience: this.url,
          requiredClaims: ['exp'],
          currentDate: new Date(this.clock.now()),
        })
      ).payload;
    } catch (err) {
      return this.answer(res, id, 403, `vapid jwt invalid: ${(err as Error).message}`);
    }
    if ((vapid.exp ?? 0) * 1000 > this.clock.now() + 24 * 3_600_000)
      return this.answer(res, id, 403, 'vapid exp more than 24 hours ahead');
    if (typeof vapid.sub !== 'string' || !/^(mailto:|https:)/.test(vapid.sub))
      return this.answer(res, id, 403, 'vapid sub must be a mailto: or https: contact');

    // RFC 8030 headers.
    const ttl = req.headers.ttl;
    if (typeof ttl !== 'string' || !/^\d+$/.test(ttl))
      return this.answer(res, id, 400, 'TTL header missing or invalid');
    const urgency = req.headers.urgency;
    if (urgency !== undefined && (typeof urgency !== 'string' || !URGENCY.has(urgency)))
      return this.answer(res, id, 400, 'invalid Urgency');
    const topic = req.headers.topic;
    if (topic !== undefined && (typeof topic !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(topic)))
      return this.answer(res, id, 400, 'invalid Topic');
    if (body.length > 4096) return this.answer(res, id, 413, 'payload too large');

    const scripted = sub.scripted.shift();
    if (scripted)
      return this.answer(
        res,
        id,
        scripted.status,
        `scripted ${scripted.status}`,
        scripted.retryAfterS !== undefined ? { 'retry-after': String(scripted.retryAfterS) } : {},
      );

    let plaintext = '';
    if (body.length > 0) {
      if (req.headers['content-encoding'] !== 'aes128gcm')
        return this.answer(res, id, 415, 'Content-Encoding must be aes128gcm');
      try {
        plaintext = decryptAes128gcm(body, sub.ecdh, sub.publicKey, sub.auth).toString('utf8');
      } catch (err) {
        return this.answer(res, id, 400, `payload does not decrypt: ${(err as Error).message}`);
      }
    }
    const headers: Record<string, string> = {};
    for (const [hk, hv] of Object.entries(req.headers)) if (typeof hv === 'string') headers[hk] = hv;
    const messageId = randomBytes(8).toString('hex');
    this.deliveries.push({
      subscriptionId: id,
      endpoint: `${this.url}/push/${id}`,
      plaintext,
      headers,
      vapid,
      at: this.clock.now(),
    });
    this.answer(res, id, 201, undefined, { location: `${this.url}/message/${messageId}`, ttl });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * RFC 8291 §3.4 keys + RFC 8188 records, receiving side:
 *   header = salt(16) | rs(4) | idlen(1) | keyid(idlen = the sender's ephemeral public key)
 *   IKM   = HKDF(salt = auth secret, ikm = ECDH(ua private, as public),
 *                info = "WebPush: info\0" | ua public | as public, 32)
 *   CEK   = HKDF(salt, IKM, "Content-Encoding: aes128gcm\0", 16)
 *   NONCE = HKDF(salt, IKM, "Content-Encoding: nonce\0", 12) XOR seq
 *   each record: AES-128-GCM(plaintext | 0x01 (0x02 in the last) | zero padding) with a 16-byte tag
 */
export function decryptAes128gcm(body: Buffer, ua: ECDH, uaPublic: Buffer, authSecret: Buffer): Buffer {
  if (body.length < 21) throw new Error('shorter than the aes128gcm header');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  if (rs < 18) throw new Error(`record size ${rs} below 18`);
  if (idlen !== 65) throw new Error(`keyid must be the sender's 65-byte public key, got ${idlen} bytes`);
  const asPublic = body.subarray(21, 21 + idlen);
  const ecdhSecret = ua.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0', 'latin1'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0', 'latin1'), 16));
  const nonceBase = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0', 'latin1'), 12));
  const out: Buffer[] = [];
  let offset = 21 + idlen;
  for (let seq = 0; offset < body.length; seq++) {
    const record = body.subarray(offset, offset + rs);
    offset += record.length;
    if (record.length <= 16) throw new Error(`record ${seq} too short`);
    const nonce = Buffer.from(nonceBase);
    // seq < 2^32 here, so XOR-ing the low 32 bits is the 96-bit XOR.
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8);
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(record.subarray(record.length - 16));
    const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
    let end = padded.length - 1;
    while (end >= 0 && padded[end] === 0) end--;
    const last = offset >= body.length;
    const delimiter = padded[end];
    if (delimiter !== (last ? 2 : 1))
      throw new Error(`record ${seq}: padding delimiter ${String(delimiter)} (expected ${last ? 2 : 1})`);
    out.push(padded.subarray(0, end));
  }
  return Buffer.concat(out);
}
