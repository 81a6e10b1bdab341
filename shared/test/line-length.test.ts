import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODE_DIRS, codeFiles, ROOT, SKIPPED_DIRS } from '../testing/code-files.js';

/**
 * Lines ≤ 120 characters (the brief; issue 12): every line of every `.ts` file of the project's code — agent/,
 * cloud/, shared/, firmware-protocol/ and scripts/, tests and test support included — is at most 120 characters
 * (UTF-16 code units, as the editor and Biome's lineWidth count them). node_modules/ and dist/ are not ours. Biome
 * formats to 120 columns but never wraps string literals or comments, so this test is what keeps those short.
 */
const MAX_LENGTH = 120;

/**
 * Files whose long lines are allowed, with the reason. Keep this list short and explained.
 * - cloud/db/migrations.ts: released migrations are never edited (a deployed database has run them as written), so
 *   their SQL keeps its lines even if one grows past the limit.
 */
const ALLOWED_FILES = new Set(['cloud/db/migrations.ts']);

/** `file:line (length)` for each line of `text` over the limit; lines numbered from 1 as in an editor. */
function longLines(file: string, text: string, max = MAX_LENGTH): string[] {
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw; // a CRLF file's \r is not part of the line
    if (line.length > max) out.push(`${file}:${i + 1} (${line.length})`);
  });
  return out;
}

describe('line length', () => {
  const files = codeFiles().map((f) => relative(ROOT, f));

  it('walks the code folders, tests included, and the allow-list names real files', () => {
    // A wrong root or filter would find nothing and pass the check below vacuously.
    for (const d of CODE_DIRS) expect(files.some((f) => f.startsWith(`${d}/`))).toBe(true);
    expect(files).toContain('shared/test/line-length.test.ts');
    expect(files.some((f) => f.split('/').some((part) => SKIPPED_DIRS.has(part)))).toBe(false);
    for (const f of ALLOWED_FILES) expect(files).toContain(f);
  });

  it('reports each offender as file:line (length)', () => {
    const text = ['short', 'x'.repeat(MAX_LENGTH), 'y'.repeat(MAX_LENGTH + 1), '', `${'z'.repeat(200)}\r`].join('\n');
    expect(longLines('a.ts', text)).toEqual([`a.ts:3 (${MAX_LENGTH + 1})`, 'a.ts:5 (200)']);
  });

  it(`no line of a .ts file is over ${MAX_LENGTH} characters`, () => {
    const offenders = files
      .filter((f) => !ALLOWED_FILES.has(f))
      .flatMap((f) => longLines(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(offenders, `${offenders.length} lines over ${MAX_LENGTH} characters:\n${offenders.join('\n')}`).toEqual([]);
  });
});
