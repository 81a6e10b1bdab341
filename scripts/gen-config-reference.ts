/**
 * Writes the config references into README.md from the schemas themselves (`configReferenceMarkdown`), between
 * `<!-- config-reference:<name>:begin -->` and `<!-- config-reference:<name>:end -->` markers, so the README
 * cannot drift from what the loaders accept. `npm run docs:config` rewrites; `--check` exits 1 on drift.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { AgentConfigSchema } from '../agent/config.js';
import { CloudConfigSchema } from '../cloud/config.js';
import { configReferenceMarkdown } from '../shared/config/index.js';
import { projectRoot } from '../shared/paths/index.js';

export const REFERENCES: Record<string, TSchema> = { agent: AgentConfigSchema, cloud: CloudConfigSchema };

export const README = join(projectRoot(), 'README.md');

/** The text with every marked reference replaced by the generated table; throws when a marker pair is missing. */
export function withReferences(text: string): string {
  let out = text;
  for (const [name, schema] of Object.entries(REFERENCES)) {
    const begin = `<!-- config-reference:${name}:begin -->`;
    const end = `<!-- config-reference:${name}:end -->`;
    const a = out.indexOf(begin);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`README.md: markers ${begin} … ${end} not found`);
    out = `${out.slice(0, a + begin.length)}\n${configReferenceMarkdown(schema)}\n${out.slice(b)}`;
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(README, 'utf8');
  const next = withReferences(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      process.stderr.write('README.md config reference is out of date: run npm run docs:config\n');
      process.exit(1);
    }
    process.stdout.write('README.md config reference is up to date\n');
  } else if (next !== current) {
    writeFileSync(README, next);
    process.stdout.write('README.md config reference updated\n');
  } else process.stdout.write('README.md config reference already up to date\n');
}
