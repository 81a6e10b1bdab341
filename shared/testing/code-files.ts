import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's own `.ts` code, for the tree-wide checks (file size, line length): agent/, cloud/, shared/,
 * firmware-protocol/ and scripts/, tests and test support included; node_modules/ and dist/ are not ours.
 */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CODE_DIRS = ['agent', 'cloud', 'shared', 'firmware-protocol', 'scripts'];
export const SKIPPED_DIRS = new Set(['node_modules', 'dist']);

/** Every `.ts` file below `dir` (absolute paths), skipping SKIPPED_DIRS. */
export function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIPPED_DIRS.has(e.name)) out.push(...tsFiles(path));
    } else if (e.isFile() && e.name.endsWith('.ts')) {
      out.push(path);
    }
  }
  return out;
}

/** Every `.ts` file of CODE_DIRS below ROOT (absolute paths). */
export function codeFiles(): string[] {
  return CODE_DIRS.flatMap((d) => tsFiles(join(ROOT, d)));
}
