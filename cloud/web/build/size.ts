import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

/**
 * The events screen's initial JS, measured as a phone downloads it: minified, then gzip (level 9) and brotli
 * (quality 11), summed over the entry and the chunks it imports statically. The build fails above the budget.
 */
export const INITIAL_JS_BUDGET_BYTES = 100 * 1024;

export interface SizeReport {
  files: string[];
  raw: number;
  gzip: number;
  brotli: number;
  budget: number;
  /** The larger compressed figure is under the budget. */
  ok: boolean;
}

export function gzip(bytes: Uint8Array): Buffer {
  return gzipSync(bytes, { level: 9 });
}

export function brotli(bytes: Uint8Array): Buffer {
  return brotliCompressSync(bytes, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });
}

export function measureInitialJs(
  files: ReadonlyMap<string, Uint8Array>,
  initial: readonly string[],
  budget = INITIAL_JS_BUDGET_BYTES,
): SizeReport {
  let raw = 0;
  let gz = 0;
  let br = 0;
  for (const path of initial) {
    const bytes = files.get(path);
    if (!bytes) throw new Error(`initial JS file ${path} is not in the build output`);
    raw += bytes.length;
    gz += gzip(bytes).length;
    br += brotli(bytes).length;
  }
  return { files: [...initial], raw, gzip: gz, brotli: br, budget, ok: Math.max(gz, br) <= budget };
}

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;

export function describeSize(r: SizeReport): string {
  return (
    `events screen initial JS: ${r.files.length} file(s), ${kb(r.raw)} minified, ${kb(r.gzip)} gzip, ` +
    `${kb(r.brotli)} brotli (budget ${kb(r.budget)} compressed)`
  );
}
