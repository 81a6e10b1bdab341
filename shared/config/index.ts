import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kind, Type, TypeGuard, type Static, type TObject, type TSchema, type TString } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, parse as parseYamlScalar, isMap, isSeq, type Node } from 'yaml';
import { VigilError } from '../errors/common.js';
import { issuesOf } from '../schema/index.js';

/**
 * Config loading: defaults (from the schema, the one place they are written) ← YAML file ← environment.
 *
 * Environment overrides use `<PREFIX>__<KEY>__<SUBKEY>`, e.g. `VIGIL_CLOUD__DATABASE__URL=postgres://…`;
 * values are read as YAML scalars, so `true`, `8080` and `[a, b]` keep their types.
 * Unknown keys (file or environment) are rejected with their path; type errors name the path and, for the file,
 * the line.
 */

export interface LoadConfigOptions<T extends TObject> {
  schema: T;
  /** YAML file to read; optional. */
  file?: string | undefined;
  /** Environment prefix, e.g. `VIGIL_CLOUD`. Omit to ignore the environment. */
  envPrefix?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Overrides applied last (e.g. from CLI flags), as a partial object. */
  overrides?: Record<string, unknown> | undefined;
}

export interface LoadedConfig<T extends TObject> {
  config: Static<T>;
  /** The file that was read, if any. */
  file: string | undefined;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function configError(message: string, details: Record<string, unknown>): VigilError {
  return new VigilError('config_invalid', message, { details });
}

function lineOf(doc: ReturnType<typeof parseDocument>, counter: LineCounter, path: string[]): number | undefined {
  // Walk as deep as the path exists in the document; report the deepest node's line.
  let node: unknown = doc.contents;
  let found: Node | undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === key);
      if (!pair) break;
      found = (pair.key as Node) ?? found;
      node = pair.value;
      if (node && typeof node === 'object' && 'range' in (node as object)) found = node as Node;
    } else if (isSeq(node)) {
      const item = node.items[Number(key)];
      if (!item) break;
      node = item;
      found = item as Node;
    } else break;
  }
  const offset = found?.range?.[0];
  return offset === undefined ? undefined : counter.linePos(offset).line;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; arrays and scalars in `b` replace those in `a`. */
export function deepMerge(a: unknown, b: unknown): unknown {
  if (!isPlainObject(a) || !isPlainObject(b)) return b === undefined ? a : b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

function schemaAt(schema: TSchema, path: string[]): TSchema | undefined {
  let s: TSchema | undefined = schema;
  for (const key of path) {
    if (!s) return undefined;
    if (s[Kind] === 'Object') s = (s as TObject).properties[key];
    else if (s[Kind] === 'Record') {
      const pattern = (s as { patternProperties?: Record<string, TSchema> }).patternProperties;
      s = pattern ? Object.values(pattern)[0] : undefined;
    } else return undefined;
  }
  return s;
}

function envOverrides(schema: TObject, prefix: string, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const start = `${prefix}__`;
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(start) || raw === undefined) continue;
    const path = name.slice(start.length).toLowerCase().split('__');
    if (!schemaAt(schema, path)) {
      throw configError(`unknown config key "${path.join('.')}" from environment variable ${name}`, {
        path: path.join('.'),
        source: name,
      });
    }
    let value: unknown;
    try {
      value = parseYamlScalar(raw) as Json;
    } catch {
      value = raw;
    }
    const target = schemaAt(schema, path);
    if (target && target[Kind] === 'String' && typeof value !== 'string') value = raw;
    let cursor = out;
    path.forEach((key, i) => {
      if (i === path.length - 1) cursor[key] = value;
      else {
        const next = isPlainObject(cursor[key]) ? cursor[key] : {};
        cursor[key] = next;
        cursor = next as Record<string, unknown>;
      }
    });
  }
  return out;
}

function unknownKeys(schema: TSchema, value: unknown, path: string[] = []): string[][] {
  if (!isPlainObject(value)) {
    if (Array.isArray(value) && schema[Kind] === 'Array') {
      const items = (schema as { items?: TSchema }).items;
      return items ? value.flatMap((v, i) => unknownKeys(items, v, [...path, String(i)])) : [];
    }
    return [];
  }
  if (schema[Kind] === 'Object') {
    const props = (schema as TObject).properties;
    const out: string[][] = [];
    for (const [k, v] of Object.entries(value)) {
      const sub = props[k];
      if (!sub) out.push([...path, k]);
      else out.push(...unknownKeys(sub, v, [...path, k]));
    }
    return out;
  }
  if (schema[Kind] === 'Record') {
    const sub = schemaAt(schema, ['*']);
    return sub ? Object.entries(value).flatMap(([k, v]) => unknownKeys(sub, v, [...path, k])) : [];
  }
  if (TypeGuard.IsUnion(schema)) {
    const variants = schema.anyOf;
    const results = variants.map((v) => unknownKeys(v, value, path));
    return results.reduce((best, r) => (r.length < best.length ? r : best), results[0] ?? []);
  }
  return [];
}

/** Loads, merges, fills defaults and validates. Throws VigilError(`config_invalid`) naming key, file and line. */
export function loadConfig<T extends TObject>(options: LoadConfigOptions<T>): LoadedConfig<T> {
  const { schema } = options;
  let fromFile: unknown = {};
  let doc: ReturnType<typeof parseDocument> | undefined;
  const counter = new LineCounter();
  const file = options.file ? resolve(options.file) : undefined;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new VigilError('config_unreadable', `cannot read config file ${file}: ${(err as Error).message}`, {
        details: { file },
      });
    }
    doc = parseDocument(text, { lineCounter: counter, prettyErrors: true });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw configError(`${file}${line ? `:${line}` : ''}: YAML syntax error: ${e.message.split('\n')[0]}`, {
        file,
        line,
      });
    }
    fromFile = doc.toJS() ?? {};
    if (!isPlainObject(fromFile)) throw configError(`${file}: the top level must be a mapping of keys`, { file });
  }
  const where = (path: string[]): string => {
    if (!file || !doc) return path.join('.');
    const line = lineOf(doc, counter, path);
    return `${path.join('.')} (${file}${line ? `:${line}` : ''})`;
  };

  for (const path of unknownKeys(schema, fromFile)) {
    throw configError(`unknown config key "${path.join('.')}" at ${where(path)}`, { path: path.join('.'), file });
  }
  const fromEnv = options.envPrefix ? envOverrides(schema, options.envPrefix, options.env ?? process.env) : {};
  for (const path of unknownKeys(schema, options.overrides ?? {})) {
    throw configError(`unknown config key "${path.join('.')}" in overrides`, { path: path.join('.') });
  }
  const merged = deepMerge(deepMerge(fromFile, fromEnv), options.overrides ?? {});
  const withDefaults = Value.Default(schema, Value.Clone(merged)) as unknown;
  const issues = issuesOf(schema, withDefaults);
  if (issues.length > 0) {
    const first = issues[0]!;
    const path = first.path.split('/').filter(Boolean);
    const more =
      issues.length > 1
        ? ` (and ${issues.length - 1} more: ${issues
            .slice(1)
            .map((i) => i.path)
            .join(', ')})`
        : '';
    throw configError(`config key "${path.join('.') || '/'}" at ${where(path)}: ${first.message}${more}`, {
      issues,
      file,
    });
  }
  return { config: withDefaults as Static<T>, file };
}

export interface ConfigReferenceRow {
  key: string;
  type: string;
  default: string;
  description: string;
}

/** What a duration setting may hold: `500ms`, `90s`, `15m`, `2h`, `7d`, or a bare number of seconds. */
export const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$';

/** A duration setting of a config schema, with its default; read it with `parseDuration` (shared/clock). */
export function durationSetting(def: string, description: string): TString {
  return Type.String({ pattern: DURATION_PATTERN, default: def, description });
}

/** Every key of a config schema with its type, default and description: the config reference, generated. */
export function configReference(schema: TSchema, prefix = ''): ConfigReferenceRow[] {
  const rows: ConfigReferenceRow[] = [];
  const s = schema as TSchema & {
    properties?: Record<string, TSchema>;
    description?: string;
    default?: unknown;
    type?: unknown;
    anyOf?: TSchema[];
  };
  if (s[Kind] === 'Object' && s.properties) {
    for (const [k, sub] of Object.entries(s.properties)) {
      const key = prefix ? `${prefix}.${k}` : k;
      const subObj = sub as TSchema & { description?: string; default?: unknown };
      if (sub[Kind] === 'Object') {
        rows.push(...configReference(sub, key));
      } else {
        rows.push({
          key,
          type: typeName(sub),
          default: subObj.default === undefined ? '—' : JSON.stringify(subObj.default),
          description: subObj.description ?? '',
        });
        if (sub[Kind] === 'Array') {
          const items = (sub as { items?: TSchema }).items;
          if (items && items[Kind] === 'Object') rows.push(...configReference(items, `${key}[]`));
        }
        if (sub[Kind] === 'Record') {
          // A map of objects (zones by name, filters by label): its entries' keys, under a placeholder.
          const { patternProperties, keyName } = sub as {
            patternProperties?: Record<string, TSchema>;
            keyName?: string;
          };
          const value = patternProperties ? Object.values(patternProperties)[0] : undefined;
          if (value && value[Kind] === 'Object') rows.push(...configReference(value, `${key}.<${keyName ?? 'name'}>`));
        }
      }
    }
  }
  return rows;
}

function typeName(s: TSchema): string {
  const kind = s[Kind];
  if (TypeGuard.IsUnion(s)) return s.anyOf.map(typeName).join(' | ');
  if (TypeGuard.IsLiteral(s)) return JSON.stringify(s.const);
  if (TypeGuard.IsArray(s)) return `${typeName(s.items)}[]`;
  if (kind === 'Record') return 'map';
  return String(kind).toLowerCase();
}

/** Markdown table of configReference(). */
export function configReferenceMarkdown(schema: TSchema): string {
  const rows = configReference(schema);
  const lines = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const r of rows)
    lines.push(`| \`${r.key}\` | ${r.type} | \`${r.default}\` | ${r.description.replace(/\|/g, '\\|')} |`);
  return lines.join('\n');
}
