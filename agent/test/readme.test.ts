import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { README, withReferences } from '../../scripts/gen-config-reference.js';

/** The README's config references are generated from the schemas; its layout table names real folders. */
describe('README.md', () => {
  const text = readFileSync(README, 'utf8');

  it(
    'carries the agent and collector config references exactly as the schemas generate them (npm run ' + 'docs:config)',
    () => {
      expect(
        withReferences(text) === text,
        'README.md config reference drifted from the schemas: run npm run docs:config',
      ).toBe(true);
    },
  );

  it('keeps the two commands up front and names only folders that exist', () => {
    expect(text.indexOf('npm start')).toBeLessThan(text.indexOf('## For the box maker'));
    expect(text.indexOf('npm test')).toBeLessThan(text.indexOf('## For the box maker'));
    const layout = text.slice(text.indexOf('## Layout'));
    const agentDirs = readdirSync(join(projectRoot(), 'agent'));
    for (const m of layout.matchAll(/`([a-z-]+)\/`/g)) {
      const name = m[1]!;
      const top = existsSync(join(projectRoot(), name));
      const inside = ['agent', 'cloud', 'shared', 'firmware-protocol', 'scripts'].some((d) =>
        existsSync(join(projectRoot(), d, name)),
      );
      expect(top || inside || agentDirs.includes(name), `layout names ${name}/`).toBe(true);
    }
  });
});
