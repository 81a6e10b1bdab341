import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_ERRORS } from '../../agent/errors.js';
import { CLOUD_ERRORS } from '../../cloud/errors.js';
import { PROTOCOL_ERRORS } from '../../firmware-protocol/errors.js';
import { COMMON_ERRORS } from '../errors/common.js';
import { projectRoot } from '../paths/index.js';

/**
 * Scans the source tree (tests included) so that what the registries promise stays true: no VigilError call site
 * writes an HTTP status, every `new VigilError` uses a registry's class, and every error code the code names is
 * registered on its side.
 */
const ROOT = projectRoot();
const DIRS = ['agent', 'cloud', 'shared', 'firmware-protocol', 'scripts'];
const REGISTRIES = new Set([
  'shared/errors/index.ts',
  'shared/errors/common.ts',
  'cloud/errors.ts',
  'agent/errors.ts',
  'firmware-protocol/errors.ts',
]);
const SELF = 'shared/test/error-sites.test.ts';

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(relative(ROOT, path));
    }
  };
  for (const d of DIRS) walk(join(ROOT, d));
  return out.filter((f) => f !== SELF);
}

/** Index just past the string, template or comment starting at `i`, or `i` when none starts there. */
function skipLiteral(s: string, i: number): number {
  const c = s[i];
  if (c === '/' && s[i + 1] === '/') return s.indexOf('\n', i) === -1 ? s.length : s.indexOf('\n', i);
  if (c === '/' && s[i + 1] === '*') return s.indexOf('*/', i + 2) + 2;
  if (c === "'" || c === '"') {
    let j = i + 1;
    while (j < s.length && s[j] !== c) j += s[j] === '\\' ? 2 : 1;
    return j + 1;
  }
  if (c === '`') {
    let j = i + 1;
    while (j < s.length && s[j] !== '`') {
      if (s[j] === '\\') j += 2;
      else if (s[j] === '$' && s[j + 1] === '{') j = closing(s, j + 1) + 1;
      else j++;
    }
    return j + 1;
  }
  return i;
}

/** Calls `visit` for each character of `s` from `start` that is outside strings, templates and comments, until true. */
function walk(s: string, start: number, visit: (i: number, c: string) => boolean): void {
  for (let i = start; i < s.length; ) {
    const after = skipLiteral(s, i);
    if (after !== i) i = after;
    else if (visit(i, s[i]!)) return;
    else i++;
  }
}

/** Index of the bracket closing the one at `open`. */
function closing(s: string, open: number): number {
  let depth = 0;
  let end = s.length;
  walk(s, open, (i, c) => {
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c) && --depth === 0) end = i;
    return end === i;
  });
  return end;
}

/** Top-level pieces of `s` split at `sep` (outside brackets, strings and templates). */
function splitTop(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  walk(s, 0, (i, c) => {
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (c === sep && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
    return false;
  });
  parts.push(s.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

interface CallSite {
  file: string;
  line: number;
  args: string[];
}

function callSites(file: string, text: string, callee: RegExp): CallSite[] {
  const out: CallSite[] = [];
  for (const m of text.matchAll(callee)) {
    const open = m.index + m[0].length - 1;
    const close = closing(text, open);
    out.push({
      file,
      line: text.slice(0, m.index).split('\n').length,
      args: splitTop(text.slice(open + 1, close), ','),
    });
  }
  return out;
}

/** Top-level keys of an object literal argument (`{ status: 1, details }` → ['status', 'details']); [] if not one. */
function topKeys(arg: string): string[] {
  if (!arg.startsWith('{')) return [];
  return splitTop(arg.slice(1, arg.lastIndexOf('}')), ',').map(
    (p) => /^(\.\.\.)?\s*([A-Za-z_$][\w$]*)/.exec(p)?.[2] ?? p,
  );
}

/** The module a file imports the local name `name` from (`import { name }` or `import { x as name }`). */
function importOf(text: string, name: string): string | undefined {
  for (const m of text.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'([^']+)'/g)) {
    const locals = m[1]!.split(',').map((s) =>
      s
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop(),
    );
    if (locals.includes(name)) return m[2];
  }
  return undefined;
}

const FILES = sourceFiles().map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') }));
const NEW_VIGIL_ERROR = /\bnew VigilError\(/g;
const CODE = /^'([a-z][a-z0-9_]*)'$/;

function registryFor(file: string): Record<string, unknown> {
  if (file.startsWith('cloud/')) return CLOUD_ERRORS;
  if (file.startsWith('agent/')) return AGENT_ERRORS;
  if (file.startsWith('firmware-protocol/')) return PROTOCOL_ERRORS;
  return { ...PROTOCOL_ERRORS, ...COMMON_ERRORS };
}

describe('error call sites (whole tree)', () => {
  it('the scanner finds call sites, their options and their codes', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source text for the scanner, template and all
    const text = "x = new VigilError('a_b', `t ${f({ status: 1 })}`, { details: { status: 2 }, status: 3, cause });";
    const [site] = callSites('f.ts', text, NEW_VIGIL_ERROR);
    expect(site?.args).toHaveLength(3);
    expect(topKeys(site!.args[2]!)).toEqual(['details', 'status', 'cause']);
    expect(CODE.exec(site!.args[0]!)?.[1]).toBe('a_b');
    expect(callSites('f.ts', text.replace('new VigilError', 'new Other'), NEW_VIGIL_ERROR)).toEqual([]);
    const imports = "import { type VigilError as A } from 'x';\nimport { B as VigilError, c } from 'y';";
    expect(importOf(imports, 'VigilError')).toBe('y');
  });

  it('no VigilError call site outside the registries writes a status', () => {
    const offenders: string[] = [];
    for (const { file, text } of FILES) {
      if (REGISTRIES.has(file)) continue;
      for (const site of callSites(file, text, NEW_VIGIL_ERROR)) {
        if (site.args.slice(2).some((a) => topKeys(a).includes('status'))) offenders.push(`${file}:${site.line}`);
      }
      for (const site of callSites(file, text, /\bsuper\(/g)) {
        if (!/extends VigilError\b/.test(text)) continue;
        if (site.args.slice(2).some((a) => topKeys(a).includes('status')))
          offenders.push(`${file}:${site.line} (super)`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('every new VigilError uses a registry class, never the base class of shared/errors/index.ts', () => {
    const offenders: string[] = [];
    for (const { file, text } of FILES) {
      if (REGISTRIES.has(file) || callSites(file, text, NEW_VIGIL_ERROR).length === 0) continue;
      const from = importOf(text, 'VigilError');
      if (from === undefined || /shared\/errors\/index\.js$|^\.\.?\/index\.js$/.test(from))
        offenders.push(`${file} (${from ?? 'no import'})`);
    }
    expect(offenders).toEqual([]);
  });

  it('every error code named in the tree is registered on its side', () => {
    const unknown: string[] = [];
    const patterns = [NEW_VIGIL_ERROR, /\bisVigilError\(/g, /\bwireError\(/g];
    for (const { file, text } of FILES) {
      if (REGISTRIES.has(file) || text.includes('defineErrors(')) continue; // registries, and tests with their own
      const registry = registryFor(file);
      for (const pattern of patterns) {
        for (const site of callSites(file, text, pattern)) {
          const arg = pattern === NEW_VIGIL_ERROR || pattern.source.includes('wireError') ? site.args[0] : site.args[1];
          const code = arg === undefined ? undefined : CODE.exec(arg)?.[1];
          if (code !== undefined && !Object.hasOwn(registry, code)) unknown.push(`${file}:${site.line} ${code}`);
        }
      }
      for (const m of text.matchAll(/(?<!typeof )\berr(?:or)?\.code [!=]== '([a-z][a-z0-9_]*)'/g)) {
        if (!Object.hasOwn(registry, m[1]!))
          unknown.push(`${file}:${text.slice(0, m.index).split('\n').length} ${m[1]}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});
