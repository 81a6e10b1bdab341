import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { assetPath } from '../../shared/paths/index.js';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

/**
 * The model registry's two-phase upload over HTTP: POST /v1/models → presigned PUT → finalize, with the real
 * YOLOX-nano ONNX model (../shared/models), and every way it refuses: wrong hash, wrong size, too large, a corrupt
 * file, a file that does not fit the declared format or labels, a forged, foreign or expired upload URL.
 */
const YOLOX = readFileSync(assetPath('models', 'yolox_nano.onnx'));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const backends = await testBackends();

interface Created {
  id: string;
  upload_url: string;
  expires_at: string;
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe.each(backends)('model registry on $name', (backend) => {
  let t: TestCloud;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    t = await startTestCloud(backend, { clock, overrides: { models: { max_size: 8 * 1024 * 1024 } } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const json = (body: unknown): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  async function create(body: Record<string, unknown>, token?: string): Promise<Created> {
    const res = await t.api('/v1/models', { ...json(body), ...(token ? { token } : {}) });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as Created;
  }
  const put = (url: string, bytes: Buffer | ReadableStream<Uint8Array>): Promise<Response> =>
    fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
      ...(bytes instanceof Buffer ? {} : { duplex: 'half' }),
    } as RequestInit);
  const finalize = (id: string): Promise<Response> => t.api(`/v1/models/${id}/finalize`, { method: 'POST' });
  const errorOf = async (res: Response): Promise<ErrorBody['error']> => ((await res.json()) as ErrorBody).error;

  it('uploads the real YOLOX-nano through the presigned URL and finalizes it after loading it once', async () => {
    const created = await create({ name: 'yolox nano', format: 'yolox', size: YOLOX.length, sha256: sha(YOLOX) });
    expect(created.id).toMatch(/^mdl_[0-9A-HJKMNP-TV-Z]{26}$/);
    const url = new URL(created.upload_url);
    expect(url.pathname).toBe(`/v1/models/${created.id}/upload`);
    expect(url.searchParams.get('sig')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Valid for models.upload_url_ttl (1h by default), from the collector's clock.
    expect(Date.parse(created.expires_at)).toBeGreaterThan(clock.now() + 59 * 60_000);
    expect(Date.parse(created.expires_at)).toBeLessThanOrEqual(clock.now() + 60 * 60_000);

    const before = (await (await t.api(`/v1/models/${created.id}`)).json()) as { state: string };
    expect(before.state).toBe('pending_upload');
    // The upload URL is the credential: no token on the PUT.
    const uploaded = await put(created.upload_url, YOLOX);
    expect(uploaded.status, await uploaded.clone().text()).toBe(200);
    expect(await uploaded.json()).toMatchObject({ id: created.id, state: 'uploaded', sha256: sha(YOLOX) });

    const done = await finalize(created.id);
    expect(done.status, await done.clone().text()).toBe(200);
    const model = (await done.json()) as Record<string, unknown>;
    expect(model).toMatchObject({
      id: created.id,
      name: 'yolox nano',
      format: 'yolox',
      size: 3_660_092,
      sha256: '695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14',
      state: 'ready',
      error: null,
      signature: {
        input: { name: 'images', type: 'float32', dims: [1, 3, 416, 416] },
        outputs: [{ name: 'output', type: 'float32', dims: [1, 3549, 85] }],
        classes: 80,
      },
    });
    // Finalize again: the same ready model, nothing re-checked; the bytes can no longer change.
    expect(((await (await finalize(created.id)).json()) as { state: string }).state).toBe('ready');
    const again = await put(created.upload_url, YOLOX);
    expect(again.status).toBe(409);
    expect((await errorOf(again)).code).toBe('model_already_final');

    const list = (await (await t.api('/v1/models', { token: t.tokens.reader })).json()) as {
      models: Array<{ id: string; state: string }>;
    };
    expect(list.models.find((m) => m.id === created.id)?.state).toBe('ready');
    // Another tenant does not see it.
    const foreign = await t.api(`/v1/models/${created.id}`, { token: t.tokens.otherTenant });
    expect(foreign.status).toBe(404);
    expect((await errorOf(foreign)).code).toBe('model_unknown');
  });

  it('refuses bytes with another SHA-256 or size than announced, and keeps nothing', async () => {
    const bytes = randomBytes(4096);
    const wrongHash = await create({ name: 'x', format: 'yolox', size: bytes.length, sha256: sha(randomBytes(8)) });
    const res = await put(wrongHash.upload_url, bytes);
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('upload_hash_mismatch');
    expect(err.message).toContain('SHA-256');
    const still = (await (await t.api(`/v1/models/${wrongHash.id}`)).json()) as { state: string };
    expect(still.state).toBe('pending_upload');
    const early = await finalize(wrongHash.id);
    expect(early.status).toBe(409);
    expect((await errorOf(early)).code).toBe('model_not_uploaded');

    // Shorter than announced (Content-Length checked before a byte is read).
    const wrongSize = await create({ name: 'x', format: 'yolox', size: bytes.length + 1, sha256: sha(bytes) });
    const short = await put(wrongSize.upload_url, bytes);
    expect(short.status).toBe(400);
    expect(await errorOf(short)).toMatchObject({ code: 'upload_size_mismatch' });
    // Longer than announced, streamed without a Content-Length: cut off by the blob store's size check.
    const streamed = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes);
        c.enqueue(bytes.subarray(0, 100));
        c.close();
      },
    });
    const long = await put(wrongSize.upload_url, streamed);
    expect(long.status).toBe(400);
    expect((await errorOf(long)).code).toBe('upload_size_mismatch');
    expect(((await (await t.api(`/v1/models/${wrongSize.id}`)).json()) as { state: string }).state).toBe(
      'pending_upload',
    );

    // Over models.max_size: refused at creation.
    const big = await t.api(
      '/v1/models',
      json({ name: 'x', format: 'yolo', size: 9 * 1024 * 1024, sha256: sha(bytes) }),
    );
    expect(big.status).toBe(413);
    expect((await errorOf(big)).code).toBe('model_too_large');
  });

  it('refuses at finalize a corrupt ONNX file, and one that does not fit its declared format or labels', async () => {
    // Corrupt: the real model cut in half (its hash announced, so the upload itself goes through).
    const cut = YOLOX.subarray(0, YOLOX.length >> 1);
    const corrupt = await create({ name: 'cut', format: 'yolox', size: cut.length, sha256: sha(cut) });
    expect((await put(corrupt.upload_url, cut)).status).toBe(200);
    const refused = await finalize(corrupt.id);
    expect(refused.status).toBe(422);
    const err = await errorOf(refused);
    expect(err.code).toBe('model_rejected');
    expect(err.message).toMatch(/onnxruntime cannot load/);
    const stored = (await (await t.api(`/v1/models/${corrupt.id}`)).json()) as Record<string, unknown>;
    expect(stored).toMatchObject({ state: 'invalid', error: { code: 'model_rejected' } });

    // A real YOLOX declared as SSD: the message names what the model has.
    const asSsd = await create({ name: 'ssd?', format: 'ssd', size: YOLOX.length, sha256: sha(YOLOX) });
    expect((await put(asSsd.upload_url, YOLOX)).status).toBe(200);
    const ssd = await finalize(asSsd.id);
    expect(ssd.status).toBe(422);
    expect((await errorOf(ssd)).message).toBe(
      'format ssd expects outputs boxes [1, N, 4], classes [1, N] and scores [1, N]; the model has 1 output: ' +
        'output [1, 3549, 85]',
    );

    // Two labels for an 80-class output.
    const labels = await create({
      name: 'two labels',
      format: 'yolox',
      labels: ['person', 'car'],
      size: YOLOX.length,
      sha256: sha(YOLOX),
    });
    expect((await put(labels.upload_url, YOLOX)).status).toBe(200);
    const wrongLabels = await finalize(labels.id);
    expect(wrongLabels.status).toBe(422);
    expect((await errorOf(wrongLabels)).message).toContain('2 labels were declared, but the yolox output');

    // An invalid model can get new bytes, and a second finalize judges them.
    expect((await put(asSsd.upload_url, YOLOX)).status).toBe(200);
    expect((await finalize(asSsd.id)).status).toBe(422);
  });

  it('refuses a forged, foreign or expired upload URL, and upload URLs never download', async () => {
    const bytes = randomBytes(2048);
    const a = await create({ name: 'a', format: 'yolox', size: bytes.length, sha256: sha(bytes) });
    const b = await create({ name: 'b', format: 'yolox', size: bytes.length, sha256: sha(bytes) });
    const url = new URL(a.upload_url);
    const sig = url.searchParams.get('sig')!;

    const forged = new URL(url);
    forged.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
    const r1 = await put(forged.href, bytes);
    expect(r1.status).toBe(403);
    expect((await errorOf(r1)).code).toBe('upload_url_invalid');

    // A's signature on B's path.
    const foreign = new URL(url.href.replace(a.id, b.id));
    const r2 = await put(foreign.href, bytes);
    expect((await errorOf(r2)).code).toBe('upload_url_invalid');

    // A later expiry with A's signature.
    const later = new URL(url);
    later.searchParams.set('exp', String(Number(url.searchParams.get('exp')) + 3600));
    expect((await errorOf(await put(later.href, bytes))).code).toBe('upload_url_invalid');

    const noSig = new URL(url);
    noSig.searchParams.delete('sig');
    expect((await errorOf(await put(noSig.href, bytes))).code).toBe('upload_url_invalid');

    // The upload signature on the download path.
    const asDownload = await fetch(url.href.replace('/upload?', '/file?'));
    expect(asDownload.status).toBe(403);
    expect((await errorOf(asDownload)).code).toBe('download_url_invalid');

    // Past its expiry (collector clock): refused, nothing stored; a fresh model's URL still works.
    clock.advance(60 * 60_000 + 1000);
    const late = await put(a.upload_url, bytes);
    expect(late.status).toBe(403);
    expect((await errorOf(late)).code).toBe('upload_url_expired');
    expect(((await (await t.api(`/v1/models/${a.id}`)).json()) as { state: string }).state).toBe('pending_upload');
    const fresh = await create({ name: 'c', format: 'yolox', size: bytes.length, sha256: sha(bytes) });
    expect((await put(fresh.upload_url, bytes)).status).toBe(200);
  });

  it('lets only admins create, finalize and roll out; the signed routes need no token', async () => {
    const res = await t.api('/v1/models', {
      ...json({ name: 'x', format: 'yolox', size: 10, sha256: sha(Buffer.alloc(10)) }),
      token: t.tokens.reader,
    });
    expect(res.status).toBe(403);
    expect((await t.api('/v1/models', { token: null })).status).toBe(401);
    const bad = await t.api('/v1/models', json({ name: 'x', format: 'tflite', size: 10, sha256: 'ab' }));
    expect(bad.status).toBe(400);
  });
});
