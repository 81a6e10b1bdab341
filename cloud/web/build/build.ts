import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { projectRoot } from '../../../shared/paths/index.js';
import { webOutDir, WEB_ROOT_FILES } from '../paths.js';
import { bundleApp, bundleServiceWorker, type BuiltFile } from './bundle.js';
import { indexHtml, manifest } from './documents.js';
import { renderIcons } from './icons.js';
import { brotli, describeSize, gzip, measureInitialJs, type SizeReport } from './size.js';

/**
 * Builds the web app into `dist/web/` (cloud/web/paths.ts): the bundle and its CSS under assets/ with content
 * hashes, the icons (hashed too), index.html, manifest.webmanifest and sw.js at the root. Text files get `.gz` and
 * `.br` siblings the collector serves to browsers that accept them. Files are written atomically (temp + rename)
 * and files of earlier builds are removed afterwards, so a collector serving the folder never sees half a file.
 */
export interface WebBuildOptions {
  /** Output folder (default: dist/web under the package root). */
  outDir?: string;
  minify?: boolean;
  /** Most compressed bytes the events screen's initial JS may take (default INITIAL_JS_BUDGET_BYTES, 100 KB). */
  budgetBytes?: number;
}

export interface WebBuildResult {
  outDir: string;
  files: string[];
  size: SizeReport;
}

const PRECOMPRESS = /\.(js|css|html|webmanifest|svg|json|map|txt)$/;

function hashName(name: string, bytes: Uint8Array): string {
  const hash = createHash('sha256').update(bytes).digest('base64url').slice(0, 10);
  const dot = name.lastIndexOf('.');
  return `assets/${name.slice(0, dot)}-${hash}${name.slice(dot)}`;
}

async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}

/** Every file under dir, relative, '/'-separated. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}

export class WebBuildError extends Error {}

export async function buildWebApp(options: WebBuildOptions = {}): Promise<WebBuildResult> {
  const root = projectRoot();
  const outDir = options.outDir ?? webOutDir();
  const minify = options.minify ?? true;
  const src = join(root, 'cloud', 'web');

  const app = await bundleApp({ root, entry: join(src, 'app', 'main.tsx'), outDir, minify });
  const icons = await renderIcons();
  const iconPaths = new Map(icons.map((i) => [i.name, hashName(i.name, i.bytes)]));
  const out: BuiltFile[] = [
    ...app.files,
    ...icons.map((i) => ({ path: iconPaths.get(i.name)!, bytes: i.bytes })),
    // Stable names too, for links that outlive a build (the collector's test push names /icons/icon-192.png).
    ...icons.map((i) => ({ path: `icons/${i.name}`, bytes: i.bytes })),
  ];
  const enc = new TextEncoder();
  out.push({
    path: 'index.html',
    bytes: enc.encode(
      indexHtml({
        entryJs: app.entryJs,
        entryCss: app.entryCss,
        preload: app.initialJs.filter((p) => p !== app.entryJs),
        icons: iconPaths,
      }),
    ),
  });
  out.push({ path: 'manifest.webmanifest', bytes: enc.encode(manifest(icons, iconPaths)) });

  // The shell the service worker keeps for offline use: the documents and every asset but source maps.
  const shell = ['/', '/manifest.webmanifest', ...out.filter((f) => f.path.startsWith('assets/')).map((f) => f.path)]
    .filter((p) => !p.endsWith('.map') && !p.endsWith('.LEGAL.txt'))
    .map((p) => (p.startsWith('/') ? p : `/${p}`));
  const version = createHash('sha256');
  for (const f of [...out].sort((a, b) => a.path.localeCompare(b.path))) version.update(f.path).update(f.bytes);
  out.push(
    ...(await bundleServiceWorker({
      root,
      entry: join(src, 'sw', 'sw.ts'),
      outDir,
      minify,
      shell,
      version: version.digest('base64url').slice(0, 16),
    })),
  );

  const byPath = new Map(out.map((f) => [f.path, f.bytes]));
  const size = measureInitialJs(byPath, app.initialJs, options.budgetBytes);
  if (!size.ok) throw new WebBuildError(`web build over budget: ${describeSize(size)}`);

  const written = new Set<string>();
  for (const f of out) {
    await writeAtomic(join(outDir, f.path), f.bytes);
    written.add(f.path);
    if (PRECOMPRESS.test(f.path)) {
      await writeAtomic(join(outDir, `${f.path}.gz`), gzip(f.bytes));
      await writeAtomic(join(outDir, `${f.path}.br`), brotli(f.bytes));
      written.add(`${f.path}.gz`).add(`${f.path}.br`);
    }
  }
  for (const name of WEB_ROOT_FILES) if (!written.has(name)) throw new WebBuildError(`web build wrote no ${name}`);
  // Files of earlier builds (old hashes) go; temp files of a build running beside this one are left alone.
  for (const stale of await listFiles(outDir)) {
    if (!written.has(stale) && !stale.endsWith('.tmp')) await rm(join(outDir, stale), { force: true });
  }
  return { outDir, files: [...byPath.keys()].sort(), size };
}
