import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log/index.js';
import { installErrorHandling } from '../server/errors.js';
import { registerWebApp, WEB_CSP } from '../server/web-app.js';
import { buildWebApp, WebBuildError, type WebBuildResult } from '../web/build/build.js';
import { INITIAL_JS_BUDGET_BYTES } from '../web/build/size.js';

/**
 * The web app's build (cloud/web/build) and how the collector serves it (cloud/server/web-app.ts), without a
 * browser: hashed assets and the documents that name them, icons of the announced sizes, the service worker's shell
 * list, the size budget (a build over it fails and writes nothing), Cache-Control per kind of file, the strict CSP,
 * precompressed bodies, ETags, the pages of the app answered with index.html, and a collector without a build.
 */
let out: string;
let build: WebBuildResult;
let app: FastifyInstance;

function webServer(dir: string): FastifyInstance {
  const f = Fastify() as unknown as FastifyInstance;
  installErrorHandling(f);
  registerWebApp(f, { dir, log: silentLogger() });
  return f;
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'vigil-web-'));
  build = await buildWebApp({ outDir: out });
  app = webServer(out);
});

afterAll(async () => {
  await app?.close();
  rmSync(out, { recursive: true, force: true });
});

describe('web app build', () => {
  it('writes hashed assets named by index.html and the manifest, icons of the announced sizes', async () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    const refs = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(refs.some((r) => /^assets\/app-[A-Z0-9]{8}\.js$/.test(r))).toBe(true);
    expect(refs.some((r) => /^assets\/app-[A-Z0-9]{8}\.css$/.test(r))).toBe(true);
    for (const r of refs) expect(readdirSync(join(out, 'assets'))).toContain(r.slice('assets/'.length));
    // No inline script or style: every <script> has a src, no style attribute anywhere.
    expect(html).toMatch(/<script type="module" src="\/assets\/app-/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=/);

    const manifest = JSON.parse(readFileSync(join(out, 'manifest.webmanifest'), 'utf8')) as {
      start_url: string;
      display: string;
      icons: Array<{ src: string; sizes: string; purpose: string }>;
    };
    expect(manifest).toMatchObject({ start_url: '/', display: 'standalone' });
    expect(manifest.icons.map((i) => `${i.sizes} ${i.purpose}`).sort()).toEqual([
      '192x192 any',
      '512x512 any',
      '512x512 maskable',
    ]);
    for (const icon of manifest.icons) {
      const meta = await sharp(join(out, icon.src)).metadata();
      expect(`${meta.width}x${meta.height}`).toBe(icon.sizes);
      expect(meta.format).toBe('png');
    }
    expect((await sharp(join(out, 'icons', 'icon-192.png')).metadata()).width).toBe(192);
  });

  it('compiles the app shell into the service worker and measures the initial JS under the budget', () => {
    const sw = readFileSync(join(out, 'sw.js'), 'utf8');
    for (const f of build.files.filter((p) => p.startsWith('assets/') && !p.endsWith('.map') && !p.includes('LEGAL')))
      expect(sw).toContain(`"/${f}"`);
    expect(sw).toContain('"/"');
    expect(build.size.files[0]).toMatch(/^assets\/app-/);
    expect(build.size.gzip).toBeGreaterThan(5000);
    expect(build.size.gzip).toBeLessThan(INITIAL_JS_BUDGET_BYTES);
    expect(build.size.brotli).toBeLessThan(build.size.gzip);
  });

  it('fails over the budget and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-web-over-'));
    try {
      const err = await buildWebApp({ outDir: dir, budgetBytes: 4096 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WebBuildError);
      expect(String((err as Error).message)).toMatch(/over budget: .* KB gzip, .* KB brotli \(budget 4\.0 KB/);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('serving the web app', () => {
  const asset = (ext: string): string => build.files.find((f) => f.startsWith('assets/app-') && f.endsWith(ext))!;

  it('answers every page of the app with index.html, revalidated, under a strict CSP', async () => {
    for (const path of ['/', '/login', '/events', '/events/evt_01J0000000000000000000000', '/devices', '/add-box']) {
      const res = await app.inject({ method: 'GET', url: path });
      expect(res.statusCode, path).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body).toContain('<div id="app">');
    }
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.headers['content-security-policy']).toBe(WEB_CSP);
    expect(WEB_CSP).toContain("script-src 'self'");
    expect(WEB_CSP).toContain("connect-src 'self'");
    expect(WEB_CSP).toContain("frame-ancestors 'none'");
    expect(WEB_CSP).not.toContain('unsafe');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['referrer-policy']).toBe('same-origin');
  });

  it('serves hashed assets immutable, typed, brotli or gzip as accepted, 304 on a matching ETag', async () => {
    const js = asset('.js');
    const plain = await app.inject({ method: 'GET', url: `/${js}` });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.rawPayload.equals(readFileSync(join(out, js)))).toBe(true);

    const br = await app.inject({ method: 'GET', url: `/${js}`, headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toBe('Accept-Encoding');
    expect(brotliDecompressSync(br.rawPayload).equals(plain.rawPayload)).toBe(true);
    const gz = await app.inject({ method: 'GET', url: `/${js}`, headers: { 'accept-encoding': 'gzip, br;q=0' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).equals(plain.rawPayload)).toBe(true);

    const again = await app.inject({ method: 'GET', url: `/${js}`, headers: { 'if-none-match': plain.headers.etag } });
    expect(again.statusCode).toBe(304);

    const css = await app.inject({ method: 'GET', url: `/${asset('.css')}` });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it('serves the service worker and manifest revalidated, icons under stable names; unknown is 404', async () => {
    const sw = await app.inject({ method: 'GET', url: '/sw.js' });
    expect(sw.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(sw.headers['cache-control']).toBe('no-cache');
    expect(sw.headers['content-security-policy']).toBe(WEB_CSP);
    const manifest = await app.inject({ method: 'GET', url: '/manifest.webmanifest' });
    expect(manifest.headers['content-type']).toBe('application/manifest+json; charset=utf-8');
    expect(manifest.headers['cache-control']).toBe('no-cache');
    const icon = await app.inject({ method: 'GET', url: '/icons/icon-192.png' });
    expect(icon.headers['content-type']).toBe('image/png');
    const missing = await app.inject({ method: 'GET', url: '/assets/app-NOPE.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('says how to build the app when it is not built (503 on the pages)', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'vigil-web-none-'));
    const bare = webServer(empty);
    try {
      const res = await bare.inject({ method: 'GET', url: '/events' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toContain('npm run build');
      expect((await bare.inject({ method: 'GET', url: '/sw.js' })).statusCode).toBe(404);
    } finally {
      await bare.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
