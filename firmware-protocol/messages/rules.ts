import type { Static, TSchema } from '@sinclair/typebox';
import type { SchemaIssue, Validator } from '../../shared/schema/index.js';
import { VigilError } from '../errors.js';

/**
 * Validators for messages with cross-field rules JSON Schema cannot express (or TypeBox does not check): the schema
 * first, then the rules, one list of issues naming the field.
 */

/** A validator that also applies cross-field rules after the schema passes. */
export function withRules<T extends TSchema>(
  base: Validator<T>,
  rules: (value: Static<T>) => SchemaIssue[],
): Validator<T> {
  return fromIssues(
    base.schema,
    (value, max) => {
      const schemaIssues = base.issues(value, max);
      if (schemaIssues.length > 0) return schemaIssues;
      return rules(value as Static<T>).slice(0, max);
    },
    (value) => base.check(value) && rules(value as Static<T>).length === 0,
  );
}

/** A validator whose issues come from a function (`check` defaults to "no issue"); parse throws invalid_message. */
export function fromIssues<T extends TSchema>(
  schema: T,
  issuesOf: (value: unknown, max: number) => SchemaIssue[],
  isValid: (value: unknown) => boolean = (value) => issuesOf(value, 1).length === 0,
): Validator<T> {
  const issues = (value: unknown, max = 10): SchemaIssue[] => issuesOf(value, max);
  return {
    schema,
    check: (value: unknown): value is Static<T> => isValid(value),
    issues,
    parse(value: unknown, where?: string): Static<T> {
      const found = issues(value);
      if (found.length === 0) return value as Static<T>;
      const prefix = where ? `${where}: ` : '';
      throw new VigilError('invalid_message', prefix + found.map((i) => `${i.path}: ${i.message}`).join('; '), {
        details: { issues: found },
      });
    },
  };
}

/** Issues of the time order rules every timed message shares: `later` must not precede `earlier`. */
export function notBefore(
  value: Record<string, unknown>,
  earlier: string,
  later: string,
  at: string,
): SchemaIssue | undefined {
  const a = value[earlier];
  const b = value[later];
  if (typeof a !== 'string' || typeof b !== 'string') return undefined;
  return Date.parse(b) < Date.parse(a) ? { path: `${at}/${later}`, message: `must not precede ${earlier}` } : undefined;
}
