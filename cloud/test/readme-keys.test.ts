import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README, REFERENCES } from '../../scripts/gen-config-reference.js';

/**
 * Every config key the README's prose names in backticks (`blob.kind`, `mqtt.shared_group`,
 * `cameras[].ffmpeg.path`, also with a value: `database.url: postgres://…`) exists in the agent's or the
 * collector's schema. Anything in backticks shaped like a dotted lower-case path counts as a key (`x[]` steps into
 * an array's items), except file names (`vigil.db`) and the few other names listed below. Fenced code blocks are
 * left out (they show command output, not keys).
 */
interface Schema {
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  patternProperties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
}

/** Names in backticks that look like keys but are something else (SSE event types). */
const NOT_KEYS = new Set([
  'device.status',
  'event.new',
  'event.updated',
  'review.new',
  'review.updated',
  'stream.reset',
]);
/** A last part like these makes a file name, not a key (`vigil.db`, `cloud.yaml`; `secrets.key` is both). */
const FILE_EXTENSIONS = new Set(
  [
    'db',
    'conf',
    'json',
    'jsonc',
    'yaml',
    'yml',
    'ts',
    'js',
    'md',
    'sh',
    'service',
    'p8',
    'pem',
    'jpg',
    'log',
    'id',
    'lock',
  ].concat(['example', 'in', 'onnx', 'avi']),
);

function resolves(schema: Schema, path: string[]): boolean {
  if (path.length === 0) return true;
  if (schema.anyOf) return schema.anyOf.some((s) => resolves(s, path));
  const [head, ...rest] = path as [string, ...string[]];
  const array = head.endsWith('[]');
  const name = array ? head.slice(0, -2) : head;
  let next = schema.properties?.[name];
  if (!next && schema.patternProperties) next = Object.values(schema.patternProperties)[0];
  if (!next && typeof schema.additionalProperties === 'object') next = schema.additionalProperties;
  if (!next) return false;
  if (array) {
    const items = next.anyOf?.find((s) => s.items)?.items ?? next.items;
    return items !== undefined && resolves(items, rest);
  }
  return resolves(next, rest);
}

function readmeKeys(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '');
  const keys = new Set<string>();
  for (const m of prose.matchAll(/`([^`\n]+)`/g)) {
    const key = m[1]!.trim().split(/[:\s=]/)[0]!;
    if (!/^[a-z_][a-z0-9_]*(\[\])?(\.[a-z_0-9]+(\[\])?)+$/.test(key) || NOT_KEYS.has(key)) continue;
    if (FILE_EXTENSIONS.has(key.split('.').at(-1)!)) continue;
    keys.add(key);
  }
  return [...keys];
}

describe('README.md config keys', () => {
  const schemas = Object.values(REFERENCES) as unknown as Schema[];

  it('names only keys that exist in the agent or collector schema', () => {
    const keys = readmeKeys(readFileSync(README, 'utf8'));
    expect(keys.length).toBeGreaterThan(50);
    const unknown = keys.filter((k) => !schemas.some((s) => resolves(s, k.split('.'))));
    expect(unknown, 'README names config keys the schemas do not have').toEqual([]);
  });

  it('finds a wrong key, in prose and with a value', () => {
    const text = 'Set `blobs.kind: s3` and `mqtt.shared_group` in `cloud.yaml`; `device.status` is an SSE event.';
    const keys = readmeKeys(`${text}\n\`\`\`\nblobs.dir: x\n\`\`\``);
    expect(keys).toEqual(['blobs.kind', 'mqtt.shared_group']);
    const [cloud] = [REFERENCES.cloud as unknown as Schema];
    expect(resolves(cloud!, ['blobs', 'kind'])).toBe(false);
    expect(resolves(cloud!, ['blob', 'kind'])).toBe(true);
    expect(resolves(cloud!, ['reclassify', 'providers[]', 'base_url'])).toBe(true);
    expect(resolves(cloud!, ['notify', 'labels', 'person', 'min_score'])).toBe(true);
    expect(resolves(cloud!, ['notify', 'labels', 'person', 'nope'])).toBe(false);
  });
});
