import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { VigilError } from '../errors/index.js';

/**
 * Boundary validation. Every input (wire message, config file, API body, CLI option) is checked against one
 * TypeBox schema, which is also its JSON Schema documentation. Failures name the field (JSON pointer) and the
 * rule that failed.
 */

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));
if (!FormatRegistry.Has('uri')) {
  FormatRegistry.Set('uri', (v) => {
    try {
      new URL(v);
      return true;
    } catch {
      return false;
    }
  });
}
if (!FormatRegistry.Has('byte')) FormatRegistry.Set('byte', (v) => /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0);
if (!FormatRegistry.Has('hex-sha256')) FormatRegistry.Set('hex-sha256', (v) => /^[0-9a-f]{64}$/.test(v));

export interface SchemaIssue {
  /** JSON pointer of the offending field, `/` for the root. */
  path: string;
  /** The rule that failed, in words. */
  message: string;
}

export interface Validator<T extends TSchema> {
  readonly schema: T;
  check(value: unknown): value is Static<T>;
  issues(value: unknown, max?: number): SchemaIssue[];
  /** Returns the value typed, or throws VigilError(`code`) listing every failed field (up to 10). */
  parse(value: unknown, where?: string): Static<T>;
}

const cache = new WeakMap<TSchema, TypeCheck<TSchema>>();

function compiled<T extends TSchema>(schema: T): TypeCheck<T> {
  let c = cache.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    cache.set(schema, c);
  }
  return c as TypeCheck<T>;
}

function ruleOf(schema: TSchema, fallback: string): string {
  const s = schema as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof s.minimum === 'number' || typeof s.maximum === 'number') parts.push(`range ${s.minimum ?? '-inf'}..${s.maximum ?? 'inf'}`);
  if (typeof s.minLength === 'number' || typeof s.maxLength === 'number') parts.push(`length ${s.minLength ?? 0}..${s.maxLength ?? 'inf'}`);
  if (typeof s.pattern === 'string') parts.push(`pattern ${s.pattern}`);
  if (typeof s.format === 'string') parts.push(`format ${s.format}`);
  return parts.length ? `${fallback} (${parts.join(', ')})` : fallback;
}

export function issuesOf(schema: TSchema, value: unknown, max = 10): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  for (const e of compiled(schema).Errors(value)) {
    const path = e.path === '' ? '/' : e.path;
    // Keep the first, most specific message per path.
    if (out.some((o) => o.path === path)) continue;
    out.push({ path, message: ruleOf(e.schema, e.message) });
    if (out.length >= max) break;
  }
  return out;
}

export function formatIssues(issues: SchemaIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

export interface ValidatorOptions {
  /** Error code thrown by parse(); `invalid_message` by default. */
  code?: string;
  /** HTTP status of that error; 400 by default. */
  status?: number;
}

export function validator<T extends TSchema>(schema: T, options: ValidatorOptions = {}): Validator<T> {
  const c = compiled(schema);
  const code = options.code ?? 'invalid_message';
  const status = options.status ?? 400;
  return {
    schema,
    check: (value: unknown): value is Static<T> => c.Check(value),
    issues: (value: unknown, max?: number) => issuesOf(schema, value, max),
    parse(value: unknown, where?: string): Static<T> {
      if (c.Check(value)) return value;
      const issues = issuesOf(schema, value);
      const prefix = where ? `${where}: ` : '';
      throw new VigilError(code, `${prefix}${formatIssues(issues)}`, { status, details: { issues } });
    },
  };
}
