import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { configReferenceMarkdown, loadConfig } from '../config/index.js';
import { isVigilError } from '../errors/index.js';

const Schema = Type.Object(
  {
    data_dir: Type.String({ default: '/var/lib/vigil', description: 'Where state lives' }),
    http: Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'Listening port' }),
        host: Type.String({ default: '127.0.0.1' }),
      },
      { additionalProperties: false, default: {} },
    ),
    cameras: Type.Array(
      Type.Object(
        { name: Type.String({ minLength: 1 }), fps: Type.Number({ minimum: 1, default: 5 }) },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
  },
  { additionalProperties: false },
);

function writeYaml(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  return file;
}

function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('loadConfig', () => {
  it('fills defaults from the schema when nothing is given', () => {
    const { config } = loadConfig({ schema: Schema });
    expect(config).toEqual({ data_dir: '/var/lib/vigil', http: { port: 8080, host: '127.0.0.1' }, cameras: [] });
  });

  it('merges file, environment and overrides in that order', () => {
    const file = writeYaml('http:\n  port: 9000\ncameras:\n  - name: door\n');
    const { config } = loadConfig({
      schema: Schema,
      file,
      envPrefix: 'VIGIL_T',
      env: { VIGIL_T__HTTP__HOST: '0.0.0.0', VIGIL_T__HTTP__PORT: '9100' },
      overrides: { data_dir: '/tmp/x' },
    });
    expect(config.http).toEqual({ port: 9100, host: '0.0.0.0' });
    expect(config.data_dir).toBe('/tmp/x');
    expect(config.cameras).toEqual([{ name: 'door', fps: 5 }]);
  });

  it('rejects an unknown key with its path and line', () => {
    const file = writeYaml('data_dir: /x\nhttp:\n  port: 1\n  prot: 2\n');
    const err = errorOf(() => loadConfig({ schema: Schema, file }));
    expect(isVigilError(err, 'config_invalid')).toBe(true);
    expect(err.message).toContain('unknown config key "http.prot"');
    expect(err.message).toContain(`${file}:4`);
  });

  it('rejects an unknown key inside an array item with its index', () => {
    const file = writeYaml('cameras:\n  - name: a\n  - name: b\n    fsp: 3\n');
    const err = errorOf(() => loadConfig({ schema: Schema, file }));
    expect(err.message).toContain('"cameras.1.fsp"');
    expect(err.message).toContain(`${file}:4`);
  });

  it('rejects a wrong type naming the path, the rule and the line', () => {
    const file = writeYaml('http:\n  port: "eighty"\n');
    const err = errorOf(() => loadConfig({ schema: Schema, file }));
    expect(err.code).toBe('config_invalid');
    expect(err.message).toContain('config key "http.port"');
    expect(err.message).toContain(`${file}:2`);
    expect(err.message).toMatch(/integer/i);
  });

  it('rejects an out-of-range value with the allowed range', () => {
    const err = errorOf(() => loadConfig({ schema: Schema, overrides: { http: { port: 70000 } } }));
    expect(err.message).toContain('http.port');
    expect(err.message).toContain('0..65535');
  });

  it('rejects an unknown environment override naming the variable', () => {
    const err = errorOf(() => loadConfig({ schema: Schema, envPrefix: 'VIGIL_T', env: { VIGIL_T__HTTP__PORTS: '1' } }));
    expect(err.message).toContain('http.ports');
    expect(err.message).toContain('VIGIL_T__HTTP__PORTS');
  });

  it('reports YAML syntax errors with the line', () => {
    const file = writeYaml('http:\n  port: [1, 2\n');
    const err = errorOf(() => loadConfig({ schema: Schema, file }));
    expect(err.code).toBe('config_invalid');
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/YAML syntax error/);
  });

  it('names a missing file', () => {
    const err = errorOf(() => loadConfig({ schema: Schema, file: '/nonexistent/vigil.yaml' }));
    expect(err.code).toBe('config_unreadable');
    expect(err.message).toContain('/nonexistent/vigil.yaml');
  });

  it('documents every key with its default', () => {
    const md = configReferenceMarkdown(Schema);
    expect(md).toContain('| `http.port` | integer | `8080` | Listening port |');
    expect(md).toContain('`cameras[].fps`');
  });

  it('documents the keys inside a map of objects under a placeholder', () => {
    const Zone = Type.Object({ inertia: Type.Integer({ default: 3, description: 'Frames inside' }) });
    const WithMaps = Type.Object({
      zones: Type.Record(Type.String(), Zone, { default: {}, description: 'Zones by name' }),
      filters: Type.Record(Type.String(), Zone, { default: {}, keyName: 'label', description: 'By label' }),
      tags: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Plain map' }),
    });
    const md = configReferenceMarkdown(WithMaps);
    expect(md).toContain('| `zones` | map | `{}` | Zones by name |');
    expect(md).toContain('| `zones.<name>.inertia` | integer | `3` | Frames inside |');
    expect(md).toContain('| `filters.<label>.inertia` |');
    expect(md).not.toContain('`tags.<name>');
  });
});
