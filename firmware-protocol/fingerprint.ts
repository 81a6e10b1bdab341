import { createHash } from 'node:crypto';
import type { Event, Review } from './messages.js';

/**
 * Dedupe support. (id, rev) names one event message (or review message); the collector compares the CONTENT of two
 * messages with the same (id, rev) to tell a duplicate (resend) from a conflict. Content = the message without
 * `sent_at` (a resend legitimately carries a new one), as canonical JSON (object keys sorted, no whitespace), hashed
 * with SHA-256.
 */

/** Fields that may differ between resends of the same (id, rev). */
export const RESEND_VOLATILE_FIELDS = ['sent_at'] as const;

/**
 * JSON with object keys sorted recursively; arrays keep their order. Numbers use JavaScript's shortest form.
 * Iterative (an explicit stack, not recursion): a hostile message nested 100,000 deep costs time linear in its size
 * and never overflows the call stack.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  const stack: { items: unknown[]; keys: string[] | undefined; i: number }[] = [];
  const open = (v: unknown): void => {
    if (v === null || typeof v !== 'object') {
      out.push(JSON.stringify(v) ?? 'null');
    } else if (Array.isArray(v)) {
      out.push('[');
      stack.push({ items: v, keys: undefined, i: 0 });
    } else {
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      out.push('{');
      stack.push({ items: keys.map((k) => obj[k]), keys, i: 0 });
    }
  };
  open(value);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i === top.items.length) {
      out.push(top.keys ? '}' : ']');
      stack.pop();
      continue;
    }
    if (top.i > 0) out.push(',');
    if (top.keys) out.push(`${JSON.stringify(top.keys[top.i])}:`);
    open(top.items[top.i++]);
  }
  return out.join('');
}

/** Lowercase hex SHA-256 of the message's content (canonical JSON without `sent_at`); events and reviews alike. */
export function eventFingerprint(event: Event | Review | Record<string, unknown>): string {
  const copy: Record<string, unknown> = { ...(event as Record<string, unknown>) };
  for (const f of RESEND_VOLATILE_FIELDS) delete copy[f];
  return createHash('sha256').update(canonicalJson(copy), 'utf8').digest('hex');
}

/** The same fingerprint under the name that fits a review message. */
export const messageFingerprint = eventFingerprint;

export type DedupeVerdict = 'new' | 'duplicate' | 'conflict';

/** Verdict for an incoming message given the fingerprint already stored for its (id, rev), if any. */
export function dedupeVerdict(
  storedFingerprint: string | undefined,
  incoming: Event | Review | Record<string, unknown>,
): DedupeVerdict {
  if (storedFingerprint === undefined) return 'new';
  return storedFingerprint === eventFingerprint(incoming) ? 'duplicate' : 'conflict';
}
