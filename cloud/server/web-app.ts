import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../shared/log/index.js';
import { VigilError } from '../errors.js';
import { webOutDir } from '../web/paths.js';
import { APP_ROUTE_PATTERNS } from '../web/shared/routes.js';

/**
 * Serves the built web app (cloud/web, built into dist/web by `npm run build`) at `/`, same origin as the API:
 *   /, /login, /events, /events/{id}, /devices, /add-box, /notifications   index.html, `Cache-Control: no-cache`
 *   /assets/*        hashed bundle, CSS, icons: `public, max-age=31536000, immutable`
 *   /sw.js, /manifest.webmanifest   revalidated every time (`no-cache`): the browser finds new builds through them
 *   /icons/*         icons under stable names (a day)
 * Text files go out brotli- or gzip-compressed when the browser accepts it (the build wrote both). Every answer
 * carries a strict Content-Security-Policy: scripts, styles and connections from this origin only, no inline code,
 * no framing. When the app is not built, the pages answer 503 with a page saying how to build it.
 */
export const WEB_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': WEB_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
} as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

interface WebFile {
  path: string;
  type: string;
  etag: string;
  /** Compressed siblings written by the build. */
  br: string | undefined;
  gz: string | undefined;
}

function typeOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  return dot === -1 ? undefined : TYPES[name.slice(dot)];
}

/** The served files of a build folder, by URL path without the leading slash. */
export function scanWebDir(dir: string): Map<string, WebFile> {
  const files = new Map<string, WebFile>();
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(name);
      else if (e.isFile() && !/\.(br|gz|tmp)$/.test(e.name)) {
        const type = typeOf(e.name);
        if (!type) continue;
        const path = join(dir, name);
        files.set(name, {
          path,
          type,
          etag: `"${createHash('sha256').update(readFileSync(path)).digest('base64url').slice(0, 22)}"`,
          br: existsSync(`${path}.br`) ? `${path}.br` : undefined,
          gz: existsSync(`${path}.gz`) ? `${path}.gz` : undefined,
        });
      }
    }
  };
  if (existsSync(dir)) walk('');
  return files;
}

function accepts(req: FastifyRequest, coding: 'br' | 'gzip'): boolean {
  const header = req.headers['accept-encoding'];
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return value.split(',').some((part) => {
    const [name, ...params] = part.trim().split(';');
    if (name?.trim().toLowerCase() !== coding) return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

function send(req: FastifyRequest, reply: FastifyReply, f: WebFile, cacheControl: string): FastifyReply {
  reply.headers(SECURITY_HEADERS).header('cache-control', cacheControl).header('etag', f.etag).type(f.type);
  if (f.br || f.gz) reply.header('vary', 'Accept-Encoding');
  const inm = req.headers['if-none-match'];
  if (inm?.split(',').some((v) => v.trim().replace(/^W\//, '') === f.etag)) return reply.status(304).send();
  const [path, coding] =
    f.br && accepts(req, 'br') ? [f.br, 'br'] : f.gz && accepts(req, 'gzip') ? [f.gz, 'gzip'] : [f.path, undefined];
  if (coding) reply.header('content-encoding', coding);
  return reply.send(readFileSync(path));
}

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigil: web app not built</title></head>
<body><main><h1>The web app is not built</h1>
<p>This collector runs, but its web app was not built. Run <code>npm run build</code> (or <code>npm install</code>,
which builds it) in the Vigil folder, then restart <code>vigil-cloud serve</code>.</p></main></body></html>
`;

export interface WebAppOptions {
  /** The build folder (default: dist/web under the package root). */
  dir?: string;
  log: Logger;
}

export function registerWebApp(app: FastifyInstance, options: WebAppOptions): { built: boolean } {
  const dir = options.dir ?? webOutDir();
  const files = scanWebDir(dir);
  const index = files.get('index.html');
  if (!index) options.log.warn({ dir }, 'web app not built: run npm run build; the pages answer 503 until then');

  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!index)
      return reply
        .headers(SECURITY_HEADERS)
        .header('cache-control', 'no-store')
        .status(503)
        .type(TYPES['.html']!)
        .send(NOT_BUILT_PAGE);
    return send(req, reply, index, REVALIDATE);
  };
  for (const pattern of APP_ROUTE_PATTERNS) app.get(pattern, page);

  const fileRoute = (prefix: string, cacheControl: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    const name = (req.params as { '*'?: string })['*'] ?? '';
    const f = files.get(`${prefix}${name}`);
    if (!f) throw new VigilError('not_found', `no such file: /${prefix}${name}`);
    return send(req, reply, f, cacheControl);
  };
  app.get('/assets/*', fileRoute('assets/', IMMUTABLE));
  app.get('/icons/*', fileRoute('icons/', 'public, max-age=86400'));
  for (const name of ['sw.js', 'manifest.webmanifest']) {
    app.get(`/${name}`, async (req, reply) => {
      const f = files.get(name);
      if (!f) throw new VigilError('not_found', `no such file: /${name} (the web app is not built)`);
      return send(req, reply, f, REVALIDATE);
    });
  }
  return { built: index !== undefined };
}
