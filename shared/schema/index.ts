import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { ErrorRegistry, VigilError } from '../errors/index.js';
import { VigilError as ProtocolError, type ProtocolErrorCode } from '../../firmware-protocol/errors.js';

/**
 * Boundary validation. Every input (wire message, config file, API body, CLI option) is checked against one
 * TypeBox schema, which is also its JSON Schema documentation. Failures name the field (JSON pointer) and the
 * rule that failed.
 */

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * What is wrong with a date-time string, or undefined when it is a real instant: RFC 3339 with a time zone
 * (`Z` or ±hh:mm), a real calendar day (no 2026-02-30), hours 00-23, minutes and seconds 00-59 (no leap second:
 * JavaScript cannot represent one), years 0001-9999. The one check behind the `date-time` format everywhere: wire
 * messages (TypeBox), the app API (fastify's Ajv, see cloud/server/app.ts) and config.
 */
export function dateTimeProblem(v: string): string | undefined {
  const m = DATE_TIME.exec(v);
  if (!m) return 'is not an RFC 3339 date-time with a time zone, e.g. 2026-01-01T12:00:00.000Z';
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = v.slice(0, 10);
  if (year < 1) return `${date}: year 0000 is not a calendar year`;
  if (month < 1 || month > 12) return `${date}: there is no month ${m[2]}`;
  const days = daysIn(year, month);
  if (day < 1 || day > days) return `${date} is not a calendar date (${MONTHS[month - 1]} ${year} has ${days} days)`;
  if (hour > 23 || minute > 59 || second > 59) return `${v.slice(11, 19)} is not a time of day (00:00:00-23:59:59)`;
  if (m[7] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59))
    return `${m[7]}${m[8]}:${m[9]} is not a time zone offset`;
  if (!Number.isFinite(Date.parse(v))) return 'is not a representable instant';
  return undefined;
}

/** True when `v` is a real date-time (see dateTimeProblem). */
export function isDateTime(v: string): boolean {
  return dateTimeProblem(v) === undefined;
}

// Always ours (another module may have registered a laxer one first).
FormatRegistry.Set('date-time', isDateTime);
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
if (!FormatRegistry.Has('byte'))
  FormatRegistry.Set('byte', (v) => /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0);
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
  if (typeof s.minimum === 'number' || typeof s.maximum === 'number')
    parts.push(`range ${s.minimum ?? '-inf'}..${s.maximum ?? 'inf'}`);
  if (typeof s.minLength === 'number' || typeof s.maxLength === 'number')
    parts.push(`length ${s.minLength ?? 0}..${s.maxLength ?? 'inf'}`);
  if (typeof s.pattern === 'string') parts.push(`pattern ${s.pattern}`);
  if (typeof s.format === 'string') parts.push(`format ${s.format}`);
  return parts.length ? `${fallback} (${parts.join(', ')})` : fallback;
}

/** A pointed message for a value failing the `date-time` format (which date, and why it is not one). */
function dateTimeIssue(schema: TSchema, value: unknown): string | undefined {
  if ((schema as { format?: unknown }).format !== 'date-time' || typeof value !== 'string') return undefined;
  const problem = dateTimeProblem(value);
  return problem === undefined ? undefined : `${JSON.stringify(value.slice(0, 40))}: ${problem} (format date-time)`;
}

export function issuesOf(schema: TSchema, value: unknown, max = 10): SchemaIssue[] {
  const c = compiled(schema);
  // The compiled check first: TypeBox's Errors walks the value with its interpreter (allocating as it goes) even
  // when there is nothing to report, and a valid value is what every hot path sees.
  if (c.Check(value)) return [];
  const out: SchemaIssue[] = [];
  for (const e of c.Errors(value)) {
    const path = e.path === '' ? '/' : e.path;
    // Keep the first, most specific message per path.
    if (out.some((o) => o.path === path)) continue;
    out.push({ path, message: dateTimeIssue(e.schema, e.value) ?? ruleOf(e.schema, e.message) });
    if (out.length >= max) break;
  }
  return out;
}

export function formatIssues(issues: SchemaIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

/**
 * The error parse() throws: a code and the registry that knows it (the VigilError of cloud/errors.ts,
 * agent/errors.ts, …), which gives its status. Without options: the wire code `invalid_message` (400).
 */
export interface ValidatorOptions<C extends string> {
  code: NoInfer<C>;
  registry: ErrorRegistry<C>;
}

export function validator<T extends TSchema, C extends string = ProtocolErrorCode>(
  schema: T,
  options?: ValidatorOptions<C>,
): Validator<T> {
  const c = compiled(schema);
  const fail = (message: string, issues: SchemaIssue[]): VigilError =>
    options
      ? new options.registry(options.code, message, { details: { issues } })
      : new ProtocolError('invalid_message', message, { details: { issues } });
  return {
    schema,
    check: (value: unknown): value is Static<T> => c.Check(value),
    issues: (value: unknown, max?: number) => issuesOf(schema, value, max),
    parse(value: unknown, where?: string): Static<T> {
      if (c.Check(value)) return value;
      const issues = issuesOf(schema, value);
      const prefix = where ? `${where}: ` : '';
      throw fail(`${prefix}${formatIssues(issues)}`, issues);
    },
  };
}
