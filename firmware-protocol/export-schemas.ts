import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WIRE_ERRORS } from './errors.js';
import { LIMITS } from './limits.js';
import { LOCAL_KINDS, type LocalKind } from './local/messages.js';
import { MESSAGE_KINDS, type MessageKind } from './messages.js';

/**
 * Writes the JSON Schema files (draft-07) of every message kind to schemas/<kind>.schema.json, and the generated
 * reference section (field tables, limits, error codes) into PROTOCOL.md between its markers. Run via
 * `npm run protocol:export`; a test fails when the checked-in files differ from what this produces.
 */

export const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';
const here = dirname(fileURLToPath(import.meta.url));
export const SCHEMAS_DIR = join(here, 'schemas');
export const PROTOCOL_MD = join(here, 'PROTOCOL.md');
/** The LAN integration's payloads (`local_mqtt`): firmware-protocol/local/schemas/<kind>.schema.json. */
export const LOCAL_SCHEMAS_DIR = join(here, 'local', 'schemas');
export const BEGIN_MARK = '<!-- BEGIN GENERATED REFERENCE: do not edit, run `npm run protocol:export` -->';
export const END_MARK = '<!-- END GENERATED REFERENCE -->';

/** Keys in this order first, then any others alphabetically; `properties` keeps the definition order. */
const KEY_ORDER = [
  '$schema',
  '$id',
  'title',
  'description',
  'type',
  'const',
  'enum',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'required',
  'properties',
  'patternProperties',
  'additionalProperties',
  'items',
  'anyOf',
  'allOf',
  'if',
  'then',
];

function ordered(value: unknown, inProperties = false): unknown {
  if (Array.isArray(value)) return value.map((v) => ordered(v));
  if (typeof value !== 'object' || value === null) return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
  const sorted = inProperties
    ? keys
    : [...KEY_ORDER.filter((k) => keys.includes(k)), ...keys.filter((k) => !KEY_ORDER.includes(k)).sort()];
  const out: Record<string, unknown> = {};
  for (const k of sorted) out[k] = ordered(obj[k], !inProperties && (k === 'properties' || k === 'patternProperties'));
  return out;
}

/** The JSON Schema document of one kind, as plain JSON (TypeBox symbols dropped), keys in stable order. */
export function jsonSchemaOf(kind: MessageKind): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(MESSAGE_KINDS[kind].schema)) as Record<string, unknown>;
  return ordered({ $schema: JSON_SCHEMA_DIALECT, ...plain }) as Record<string, unknown>;
}

export function schemaFileText(kind: MessageKind): string {
  return JSON.stringify(jsonSchemaOf(kind), null, 2) + '\n';
}

/** The JSON Schema file text of one local (LAN broker) payload kind. */
export function localSchemaFileText(kind: LocalKind): string {
  const plain = JSON.parse(JSON.stringify(LOCAL_KINDS[kind])) as Record<string, unknown>;
  return JSON.stringify(ordered({ $schema: JSON_SCHEMA_DIALECT, ...plain }), null, 2) + '\n';
}

// --- Markdown reference ---------------------------------------------------------------------------------------

type J = Record<string, unknown>;

function typeOf(s: J): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (Array.isArray(s.anyOf)) {
    const alts = s.anyOf as J[];
    if (alts.every((a) => a.const !== undefined)) return alts.map((a) => `\`${JSON.stringify(a.const)}\``).join(' | ');
    return alts.map(typeOf).join(' | ');
  }
  if (s.type === 'array') return `array of ${typeOf((s.items as J) ?? {})}`;
  if (s.type === 'object' && s.patternProperties) return 'map';
  return String(s.type ?? 'any');
}

function rulesOf(s: J): string {
  const r: string[] = [];
  if (s.format) r.push(`format ${s.format}`);
  if (s.pattern) r.push(`pattern \`${s.pattern}\``);
  if (s.minimum !== undefined || s.maximum !== undefined) r.push(`${s.minimum ?? '−∞'} .. ${s.maximum ?? '∞'}`);
  if (s.minLength !== undefined || s.maxLength !== undefined)
    r.push(`length ${s.minLength ?? 0}..${s.maxLength ?? '∞'}`);
  if (s.minItems !== undefined || s.maxItems !== undefined) r.push(`${s.minItems ?? 0}..${s.maxItems ?? '∞'} items`);
  if (s.uniqueItems) r.push('unique');
  if (s.maxProperties !== undefined) r.push(`≤ ${s.maxProperties} entries`);
  if (s.type === 'array' && s.items) {
    const inner = rulesOf(s.items as J);
    if (inner) r.push(`each: ${inner}`);
  }
  if (Array.isArray(s.anyOf)) {
    for (const a of s.anyOf as J[]) {
      const inner = rulesOf(a);
      if (inner) r.push(inner);
    }
  }
  return r.join('; ');
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function rows(schema: J, prefix: string, out: string[]): void {
  const props = (schema.properties ?? {}) as Record<string, J>;
  const required = new Set((schema.required ?? []) as string[]);
  for (const [name, s] of Object.entries(props)) {
    const path = prefix + name;
    out.push(
      `| \`${path}\` | ${cell(typeOf(s))} | ${required.has(name) ? 'yes' : 'no'} | ${cell(rulesOf(s))} | ` +
        `${cell(String(s.description ?? ''))} |`,
    );
    if (s.type === 'object' && s.properties && !(s.description as string | undefined)?.startsWith('One event message'))
      rows(s, `${path}.`, out);
    const items = s.items as J | undefined;
    if (
      s.type === 'array' &&
      items?.type === 'object' &&
      items.properties &&
      !String(items.description).startsWith('One event message')
    )
      rows(items, `${path}[].`, out);
  }
}

export function referenceMarkdown(): string {
  const out: string[] = [BEGIN_MARK, ''];
  out.push('### Message field reference', '');
  out.push(
    'Generated from `firmware-protocol/messages.ts`. "Required" = the field must be present. Every object also ' +
      'accepts fields not listed (ignored by v1 readers).',
    '',
  );
  for (const kind of Object.keys(MESSAGE_KINDS) as MessageKind[]) {
    const s = JSON.parse(JSON.stringify(MESSAGE_KINDS[kind].schema)) as J;
    out.push(`#### ${String(s.title)} — \`schemas/${kind}.schema.json\``, '', String(s.description), '');
    out.push('| Field | Type | Required | Rules | Description |', '|---|---|---|---|---|');
    rows(s, '', out);
    out.push('');
  }
  out.push('### Limits', '', '| Name | Value |', '|---|---|');
  for (const [k, v] of Object.entries(LIMITS)) out.push(`| \`${k}\` | ${v} |`);
  out.push('', '### Error codes', '', '| Code | HTTP | Device action | Meaning |', '|---|---|---|---|');
  for (const [code, info] of Object.entries(WIRE_ERRORS))
    out.push(`| \`${code}\` | ${info.status} | ${info.retry} | ${cell(info.meaning)} |`);
  out.push('', END_MARK);
  return out.join('\n');
}

/** PROTOCOL.md with its generated section replaced by the current reference. */
export function protocolMarkdown(current: string): string {
  const begin = current.indexOf(BEGIN_MARK);
  const end = current.indexOf(END_MARK);
  if (begin < 0 || end < begin)
    throw new Error(`PROTOCOL.md lacks the generated-reference markers (${BEGIN_MARK} … ${END_MARK})`);
  return current.slice(0, begin) + referenceMarkdown() + current.slice(end + END_MARK.length);
}

export function exportAll(): string[] {
  const written: string[] = [];
  for (const kind of Object.keys(MESSAGE_KINDS) as MessageKind[]) {
    const file = join(SCHEMAS_DIR, `${kind}.schema.json`);
    writeFileSync(file, schemaFileText(kind));
    written.push(file);
  }
  for (const kind of Object.keys(LOCAL_KINDS) as LocalKind[]) {
    const file = join(LOCAL_SCHEMAS_DIR, `${kind}.schema.json`);
    writeFileSync(file, localSchemaFileText(kind));
    written.push(file);
  }
  writeFileSync(PROTOCOL_MD, protocolMarkdown(readFileSync(PROTOCOL_MD, 'utf8')));
  written.push(PROTOCOL_MD);
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const f of exportAll()) process.stdout.write(`wrote ${f}\n`);
}
