import fc from 'fast-check';
import { Kind, OptionalKind, type TSchema } from '@sinclair/typebox';
import { newEventId } from '../../../shared/ids/index.js';
import { EVENT_ID_RE } from '../../../firmware-protocol/patterns.js';
import { eventRuleIssues, validateEvent, validateHeartbeat, type Event } from '../../../firmware-protocol/messages.js';
import {
  BATCH_MAX_BYTES,
  BATCH_MAX_EVENTS,
  EVENT_MAX_BYTES,
  HEARTBEAT_MAX_BYTES,
  JSON_MAX_DEPTH,
} from '../../../firmware-protocol/limits.js';

/**
 * fast-check arbitraries for protocol v1 messages, derived from the TypeBox schemas themselves (firmware-protocol
 * messages.ts): every known field within its schema (patterns, lengths, ranges, formats), optional fields present or
 * not. Then fix-ups for the rules JSON Schema cannot say (type/rev, box order, time order, the signing device), and
 * mutations that make a message almost valid. `expectedEventVerdict` is the reference model of what a collector must
 * answer, written from PROTOCOL.md, independent of the ingest code.
 */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const dateTime = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());

/** The JSON Schema keywords `fromSchema` reads (TypeBox keeps them on the schema object). */
interface SchemaKeywords {
  [Kind]: string;
  const?: unknown;
  minimum?: number;
  maximum?: number;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  anyOf?: TSchema[];
  items?: TSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  patternProperties?: Record<string, TSchema>;
  maxProperties?: number;
  properties?: Record<string, TSchema>;
}

/** An arbitrary for the values a TypeBox schema accepts (the subset of TypeBox the wire schemas use). */
export function fromSchema(schema: TSchema): fc.Arbitrary<Json> {
  const s: SchemaKeywords = schema;
  switch (s[Kind]) {
    case 'Literal':
      return fc.constant(s.const as Json);
    case 'Boolean':
      return fc.boolean();
    case 'Null':
      return fc.constant(null);
    case 'Integer':
      return fc.integer({ min: s.minimum ?? -(2 ** 31), max: s.maximum ?? 2 ** 31 });
    case 'Number':
      return fc
        .double({ min: s.minimum ?? -1e9, max: s.maximum ?? 1e9, noNaN: true, noDefaultInfinity: true })
        .map((n) => (Object.is(n, -0) ? 0 : n));
    case 'String': {
      if (s.format === 'date-time') return dateTime;
      if (typeof s.pattern === 'string') return fc.stringMatching(new RegExp(s.pattern));
      return fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 40, 300), unit: 'binary' });
    }
    case 'Union':
      return fc.oneof(...(s.anyOf as TSchema[]).map(fromSchema));
    case 'Array': {
      const item = fromSchema(s.items as TSchema);
      const min = s.minItems ?? 0;
      const max = Math.min(s.maxItems ?? 5, 20);
      return s.uniqueItems
        ? fc.uniqueArray(item, { minLength: min, maxLength: max, selector: (v) => JSON.stringify(v) })
        : fc.array(item, { minLength: min, maxLength: max });
    }
    case 'Record': {
      const [pattern, value] = Object.entries(s.patternProperties as Record<string, TSchema>)[0]!;
      return fc.dictionary(fc.stringMatching(new RegExp(pattern)), fromSchema(value), {
        maxKeys: Math.min(s.maxProperties ?? 8, 40),
      }) as fc.Arbitrary<Json>;
    }
    case 'Object': {
      const props = s.properties as Record<string, TSchema>;
      const required: Record<string, fc.Arbitrary<Json>> = {};
      const optional: string[] = [];
      for (const [k, v] of Object.entries(props)) {
        required[k] = fromSchema(v);
        if ((v as unknown as Record<symbol, unknown>)[OptionalKind] === 'Optional') optional.push(k);
      }
      return fc.record(required, {
        requiredKeys: Object.keys(props).filter((k) => !optional.includes(k)),
      }) as fc.Arbitrary<Json>;
    }
    default:
      return fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>;
  }
}

/** A valid Event of `deviceId` (schema and cross-field rules), with a fresh id. */
export function validEvent(deviceId: string): fc.Arbitrary<Record<string, Json>> {
  return (fromSchema(validateEvent.schema) as fc.Arbitrary<Record<string, Json>>).map((raw) => {
    const e: Record<string, Json> = { ...raw, v: 1, id: newEventId(), device_id: deviceId };
    if (e.type === 'new') e.rev = 0;
    else if ((e.rev as number) < 1) e.rev = 1;
    const box = [...(e.box as number[])].map((n) => Math.min(1, Math.max(0, n)));
    e.box = [
      Math.min(box[0]!, box[2]!),
      Math.min(box[1]!, box[3]!),
      Math.max(box[0]!, box[2]!),
      Math.max(box[1]!, box[3]!),
    ];
    if (e.type === 'end' && e.ended_at === undefined) e.ended_at = e.started_at as string;
    if (e.type !== 'end') delete e.end_reason;
    if (e.ended_at !== undefined && Date.parse(e.ended_at as string) < Date.parse(e.started_at as string))
      e.ended_at = e.started_at as string;
    if (
      e.media_start !== undefined &&
      e.media_end !== undefined &&
      Date.parse(e.media_end as string) < Date.parse(e.media_start as string)
    ) {
      e.media_end = e.media_start as string;
    }
    // Later v1 fields are unknown to this reader but allowed: a few, flat, so they stay within the limits.
    return e;
  });
}

export function validHeartbeat(deviceId: string): fc.Arbitrary<Record<string, Json>> {
  return (fromSchema(validateHeartbeat.schema) as fc.Arbitrary<Record<string, Json>>).map((raw) => ({
    ...raw,
    v: 1,
    device_id: deviceId,
    sent_at: new Date().toISOString(),
  }));
}

/** A mutation of a message object (almost valid: one thing wrong, or still valid by chance). */
export type ObjectMutation = { name: string; apply: (o: Record<string, Json>) => Record<string, Json> };

/** The fields of an event message (and its batch's sent_at), the ones mutations pick from. */
export const FIELDS = [
  'v',
  'id',
  'device_id',
  'camera',
  'type',
  'rev',
  'label',
  'score',
  'box',
  'started_at',
  'ended_at',
  'sent_at',
  'thumbnail',
  'zones',
  'attributes',
  'top_score',
  'duration_s',
];
const BOUNDARY_NUMBERS: Json[] = [
  -1,
  -0.0000001,
  0,
  1,
  1.0000001,
  2 ** 31,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e308,
  -1e308,
  5e-324,
  0.1,
];
const BAD_DATES = [
  '2026-02-30T10:00:00Z',
  '2025-02-29T00:00:00Z',
  '2026-04-31T00:00:00Z',
  '2026-13-01T00:00:00Z',
  '2026-01-01T24:00:00Z',
  '2026-01-01T23:59:60Z',
  '0000-01-01T00:00:00Z',
  '2026-01-01',
  '2026-01-01T00:00:00',
  'yesterday',
];

export function objectMutation(): fc.Arbitrary<ObjectMutation> {
  const field = fc.constantFrom(...FIELDS);
  return fc.oneof(
    fc
      .tuple(field, fc.jsonValue({ maxDepth: 3 }))
      .map(([f, v]) => ({ name: `wrong type ${f}`, apply: (o: Record<string, Json>) => ({ ...o, [f]: v as Json }) })),
    field.map((f) => ({
      name: `drop ${f}`,
      apply: (o: Record<string, Json>) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== f)),
    })),
    fc
      .tuple(fc.constantFrom('score', 'rev', 'top_score', 'duration_s', 'v'), fc.constantFrom(...BOUNDARY_NUMBERS))
      .map(([f, n]) => ({
        name: `boundary ${f}=${String(n)}`,
        apply: (o: Record<string, Json>) => ({ ...o, [f]: n }),
      })),
    fc
      .tuple(fc.constantFrom('started_at', 'ended_at', 'sent_at', 'media_start'), fc.constantFrom(...BAD_DATES))
      .map(([f, d]) => ({ name: `date ${f}=${d}`, apply: (o: Record<string, Json>) => ({ ...o, [f]: d }) })),
    fc
      .tuple(fc.constantFrom('label', 'camera', 'note', 'id'), fc.constantFrom(65, 257, 17_000, 600_000))
      .map(([f, n]) => ({
        name: `huge ${f} (${n})`,
        apply: (o: Record<string, Json>) => ({ ...o, [f]: 'x'.repeat(n) }),
      })),
    fc
      .tuple(
        fc.constantFrom('extra', 'attributes', 'box', 'thumbnail'),
        fc.constantFrom(JSON_MAX_DEPTH - 2, JSON_MAX_DEPTH - 1, JSON_MAX_DEPTH, JSON_MAX_DEPTH + 5),
      )
      .map(([f, n]) => ({
        name: `nest ${f} ${n} deep`,
        apply: (o: Record<string, Json>) => {
          let v: Json = o[f] ?? 1;
          for (let i = 0; i < n; i++) v = [v];
          return { ...o, [f]: v };
        },
      })),
    fc.constantFrom<ObjectMutation>(
      { name: 'box reversed', apply: (o) => ({ ...o, box: [0.9, 0.9, 0.1, 0.1] }) },
      { name: 'new with rev 3', apply: (o) => ({ ...o, type: 'new', rev: 3 }) },
      {
        name: 'end without ended_at',
        apply: (o) => ({
          ...Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'ended_at')),
          type: 'end',
          rev: 2,
        }),
      },
      {
        name: 'ended before started',
        apply: (o) => ({ ...o, started_at: '2026-01-02T00:00:00Z', ended_at: '2026-01-01T00:00:00Z' }),
      },
      { name: 'another device', apply: (o) => ({ ...o, device_id: 'dev_01JGZ60B4W2Y8T6R5Q3P1N9M7K' }) },
      { name: 'v 2', apply: (o) => ({ ...o, v: 2 }) },
      {
        name: '__proto__ key',
        apply: (o) =>
          JSON.parse(JSON.stringify(o).replace(/^\{/, '{"__proto__":{"polluted":1},')) as Record<string, Json>,
      },
      { name: 'constructor key', apply: (o) => ({ ...o, constructor: { prototype: { x: 1 } } }) },
      {
        name: 'bad thumbnail hash',
        apply: (o) => ({
          ...o,
          thumbnail: { sha256: 'G'.repeat(64), size: 10, width: 1, height: 1, content_type: 'image/jpeg' },
        }),
      },
    ),
  );
}

/** A mutation of the serialized bytes. */
export type ByteMutation = { name: string; apply: (b: Buffer) => Buffer };

export function byteMutation(): fc.Arbitrary<ByteMutation> {
  return fc.oneof(
    fc.double({ min: 0, max: 0.999, noNaN: true }).map((f) => ({
      name: `truncate at ${f.toFixed(2)}`,
      apply: (b: Buffer) => b.subarray(0, Math.floor(b.length * f)),
    })),
    fc
      .tuple(
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        fc.constantFrom(
          Buffer.from([0xff]),
          Buffer.from([0xc0, 0x80]),
          Buffer.from([0xed, 0xa0, 0x80]),
          Buffer.from([0xe2, 0x82]),
        ),
      )
      .map(([f, bad]) => ({
        name: `bad UTF-8 ${bad.toString('hex')}`,
        apply: (b: Buffer) => {
          const at = Math.floor(b.length * f);
          return Buffer.concat([b.subarray(0, at), bad, b.subarray(at)]);
        },
      })),
    fc.tuple(fc.double({ min: 0, max: 0.999, noNaN: true }), fc.integer({ min: 1, max: 255 })).map(([f, x]) => ({
      name: `flip a byte ^${x}`,
      apply: (b: Buffer) => {
        const c = Buffer.from(b);
        const at = Math.floor(c.length * f);
        if (c.length > 0) c[at] = c[at]! ^ x;
        return c;
      },
    })),
    // Nesting too deep to build as an object (JSON.stringify itself would overflow): spliced in as text.
    fc.constantFrom(3000, 9000, 100_000).map((n) => ({
      name: `deep nest ${n} (text)`,
      apply: (b: Buffer) => {
        const at = b.indexOf(0x7b);
        return at < 0
          ? b
          : Buffer.concat([
              b.subarray(0, at + 1),
              Buffer.from(`"deep":${'['.repeat(n)}${']'.repeat(n)},`),
              b.subarray(at + 1),
            ]);
      },
    })),
    fc.constantFrom<ByteMutation>(
      { name: 'BOM', apply: (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]) },
      { name: 'trailing garbage', apply: (b) => Buffer.concat([b, Buffer.from(' x')]) },
      { name: 'two documents', apply: (b) => Buffer.concat([b, b]) },
      { name: 'empty', apply: () => Buffer.alloc(0) },
      { name: 'NUL bytes', apply: (b) => Buffer.concat([b, Buffer.alloc(3)]) },
    ),
  );
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function depthOf(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (x !== null && typeof x === 'object') {
      max = Math.max(max, d + 1);
      for (const c of Object.values(x)) stack.push([c, d + 1]);
    }
  }
  return max;
}

/** Protocol strings never hold U+0000 (no database text column can store it): `\u0000` not preceded by an escape. */
function holdsNul(json: string): boolean {
  return /(^|[^\\])(\\\\)*\\u0000/.test(json);
}

/** Reference model: does protocol v1 say these bytes, signed by `deviceId`, are one acceptable Event? */
export function eventIsAcceptable(e: unknown, deviceId: string): boolean {
  if (!validateEvent.check(e)) return false;
  const text = JSON.stringify(e);
  return (
    eventRuleIssues(e as Event).length === 0 &&
    (e as Event).device_id === deviceId &&
    Buffer.byteLength(text) <= EVENT_MAX_BYTES &&
    !holdsNul(text)
  );
}

function identifiable(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { id, rev } = e as { id?: unknown; rev?: unknown };
  return (
    typeof id === 'string' && EVENT_ID_RE.test(id) && typeof rev === 'number' && Number.isSafeInteger(rev) && rev >= 0
  );
}

export interface ExpectedVerdict {
  /** The body as a whole is refused (HTTP 4xx). */
  refused: boolean;
  /** Per item (a single event is one item): id and whether it must be accepted. */
  items: { id: unknown; acceptable: boolean }[];
}

/** What a collector must answer for an events body (single Event or EventBatch) signed by `deviceId`. */
export function expectedEventsVerdict(body: Buffer, deviceId: string): ExpectedVerdict {
  const refused: ExpectedVerdict = { refused: true, items: [] };
  if (body.length === 0 || body.length > BATCH_MAX_BYTES) return refused;
  let value: unknown;
  let text: string;
  try {
    text = UTF8.decode(body);
    value = JSON.parse(text);
  } catch {
    return refused;
  }
  // Depth and NUL are checked on the whole body before parsing: one offending item refuses the whole batch.
  if (depthOf(value) > JSON_MAX_DEPTH || holdsNul(text)) return refused;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'events' in value) {
    const b = value as { v?: unknown; events?: unknown };
    if (b.v !== 1 || !Array.isArray(b.events) || b.events.length < 1 || b.events.length > BATCH_MAX_EVENTS)
      return refused;
    const items = b.events.map((e: unknown) => ({
      id: (e as { id?: unknown } | null)?.id,
      acceptable: eventIsAcceptable(e, deviceId),
      known: identifiable(e),
    }));
    // An item that is not acceptable and cannot even be named by id/rev cannot be acked: the whole body is refused.
    if (items.some((i) => !i.acceptable && !i.known)) return refused;
    return { refused: false, items: items.map(({ id, acceptable }) => ({ id, acceptable })) };
  }
  if (body.length > EVENT_MAX_BYTES) return refused;
  const ok = eventIsAcceptable(value, deviceId);
  return ok ? { refused: false, items: [{ id: (value as Event).id, acceptable: true }] } : refused;
}

export function heartbeatIsAcceptable(body: Buffer, deviceId: string): boolean {
  if (body.length === 0 || body.length > HEARTBEAT_MAX_BYTES) return false;
  let value: unknown;
  try {
    value = JSON.parse(UTF8.decode(body));
  } catch {
    return false;
  }
  return (
    depthOf(value) <= JSON_MAX_DEPTH &&
    !holdsNul(JSON.stringify(value)) &&
    validateHeartbeat.check(value) &&
    (value as { device_id: string }).device_id === deviceId
  );
}
