import { build, type Metafile, type OutputFile } from 'esbuild';
import { join, relative } from 'node:path';

/**
 * The two esbuild runs of the web app: the app itself (ES modules, split into hashed chunks, its CSS beside it) and
 * the service worker (one classic script at /sw.js, not hashed: the browser finds updates by fetching that URL).
 */
export const BROWSER_TARGETS = ['es2022', 'chrome111', 'firefox115', 'safari16.4'];

export interface BuiltFile {
  /** Path under the output directory, '/'-separated (e.g. assets/app-3XQ2.js). */
  path: string;
  bytes: Uint8Array;
}

export interface AppBundle {
  files: BuiltFile[];
  /** The entry module (what index.html loads). */
  entryJs: string;
  /** Its stylesheet. */
  entryCss: string | undefined;
  /** JS files the entry loads before it runs (itself and its static imports, transitively): the initial JS. */
  initialJs: string[];
}

const rel = (outDir: string, abs: string): string => relative(outDir, abs).split('\\').join('/');

function files(outDir: string, out: OutputFile[]): BuiltFile[] {
  return out.map((f) => ({ path: rel(outDir, f.path), bytes: f.contents }));
}

/** The entry's static-import closure in the metafile (dynamic imports are loaded later, on demand). */
export function staticClosure(meta: Metafile, entry: string, outDir: string, root: string): string[] {
  const outputs = new Map(Object.entries(meta.outputs).map(([p, o]) => [rel(outDir, join(root, p)), o]));
  const seen = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const imp of outputs.get(path)?.imports ?? []) {
      if (imp.kind === 'import-statement' && !imp.external) visit(rel(outDir, join(root, imp.path)));
    }
  };
  visit(entry);
  return [...seen];
}

export async function bundleApp(opts: {
  root: string;
  entry: string;
  outDir: string;
  minify: boolean;
}): Promise<AppBundle> {
  const root = opts.root;
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: opts.entry },
    outdir: opts.outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: BROWSER_TARGETS,
    minify: opts.minify,
    sourcemap: 'linked',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: 'assets/[name]-[hash]',
    chunkNames: 'assets/[name]-[hash]',
    assetNames: 'assets/[name]-[hash]',
    define: { 'process.env.NODE_ENV': JSON.stringify(opts.minify ? 'production' : 'development') },
    legalComments: 'linked',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const meta = result.metafile;
  let entryJs: string | undefined;
  let entryCss: string | undefined;
  // Dynamically imported modules are entry points too (with splitting): the app's is the one built from `entry`.
  const entryInput = relative(root, opts.entry).split('\\').join('/');
  for (const [p, o] of Object.entries(meta.outputs)) {
    if (o.entryPoint !== entryInput) continue;
    entryJs = rel(opts.outDir, join(root, p));
    if (o.cssBundle) entryCss = rel(opts.outDir, join(root, o.cssBundle));
  }
  if (!entryJs) throw new Error('esbuild produced no entry module');
  return {
    files: files(opts.outDir, result.outputFiles),
    entryJs,
    entryCss,
    initialJs: staticClosure(meta, entryJs, opts.outDir, root),
  };
}

/** The service worker, with the app shell's file list and version compiled in. */
export async function bundleServiceWorker(opts: {
  root: string;
  entry: string;
  outDir: string;
  minify: boolean;
  shell: string[];
  version: string;
}): Promise<BuiltFile[]> {
  const result = await build({
    absWorkingDir: opts.root,
    entryPoints: { sw: opts.entry },
    outdir: opts.outDir,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: BROWSER_TARGETS,
    minify: opts.minify,
    define: {
      __APP_SHELL__: JSON.stringify(opts.shell),
      __APP_VERSION__: JSON.stringify(opts.version),
    },
    write: false,
    logLevel: 'silent',
  });
  return files(opts.outDir, result.outputFiles);
}
