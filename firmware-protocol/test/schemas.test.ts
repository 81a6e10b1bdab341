import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { SigningErrorCode } from '../../shared/signing/index.js';
import {
  ATTRIBUTES_MAX,
  BATCH_MAX_EVENTS,
  envelopeBytesFor,
  MESSAGE_KINDS,
  MQTT_ENVELOPE_MAX_BYTES,
  splitEventsBody,
  parseEventsBody,
  statusForCode,
  THUMBNAIL_MAX_BYTES,
  validateEvent,
  WIRE_ERRORS,
  type MessageKind,
} from '../index.js';
import { schemaFileValidator } from '../../shared/testing/json-schema.js';
import { BEGIN_MARK, END_MARK, PROTOCOL_MD, protocolMarkdown, SCHEMAS_DIR, schemaFileText } from '../export-schemas.js';

const EXAMPLES_DIR = new URL('../examples/', import.meta.url);
const KINDS = Object.keys(MESSAGE_KINDS) as MessageKind[];

/** Example file → message kind. */
const EXAMPLE_KIND: Record<string, MessageKind> = {
  'event-new': 'event',
  'event-update': 'event',
  'event-end': 'event',
  'event-batch': 'event-batch',
  'review-new': 'review',
  'review-update': 'review',
  'review-end': 'review',
  heartbeat: 'heartbeat',
  ack: 'ack',
  availability: 'availability',
  'pairing-request': 'pairing-request',
  'pairing-response': 'pairing-response',
  'broker-credentials': 'broker-credentials',
  error: 'error',
  'thumbnail-info': 'thumbnail-info',
  envelope: 'envelope',
  command: 'command',
  'command-poll': 'command-poll',
  'command-result': 'command-result',
};

function example(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`${name}.json`, EXAMPLES_DIR), 'utf8')) as Record<string, unknown>;
}

/** An independent validator built from the checked-in JSON Schema file (draft-07), not from TypeBox. */
function ajvFor(kind: MessageKind): ValidateFunction {
  return schemaFileValidator(join(SCHEMAS_DIR, `${kind}.schema.json`));
}
const ajvValidators = Object.fromEntries(KINDS.map((k) => [k, ajvFor(k)])) as Record<MessageKind, ValidateFunction>;

function bothAccept(kind: MessageKind, value: unknown): [boolean, boolean] {
  return [ajvValidators[kind](value) as boolean, MESSAGE_KINDS[kind].validate.check(value)];
}

describe('exported JSON Schemas', () => {
  it('schemas/*.schema.json are exactly what the code produces (else run `npm run protocol:export`)', () => {
    const files = readdirSync(SCHEMAS_DIR).sort();
    expect(files).toEqual(KINDS.map((k) => `${k}.schema.json`).sort());
    for (const kind of KINDS) {
      const onDisk = readFileSync(join(SCHEMAS_DIR, `${kind}.schema.json`), 'utf8');
      expect(
        onDisk === schemaFileText(kind),
        `schemas/${kind}.schema.json is stale: run \`npm run protocol:export\``,
      ).toBe(true);
    }
  });

  it('the generated reference in PROTOCOL.md is up to date (else run `npm run protocol:export`)', () => {
    const doc = readFileSync(PROTOCOL_MD, 'utf8');
    expect(doc).toContain(BEGIN_MARK);
    expect(doc).toContain(END_MARK);
    expect(doc === protocolMarkdown(doc), 'PROTOCOL.md reference section is stale: run `npm run protocol:export`').toBe(
      true,
    );
  });

  it('declare draft-07, and carry $id, title and a description on the message and on every field', () => {
    const undocumented: string[] = [];
    const walk = (s: Record<string, unknown>, at: string): void => {
      for (const [name, sub] of Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>)) {
        if (typeof sub.description !== 'string' || sub.description.length < 5) undocumented.push(`${at}/${name}`);
        walk(sub, `${at}/${name}`);
        if (sub.items) walk(sub.items as Record<string, unknown>, `${at}/${name}[]`);
      }
    };
    for (const kind of KINDS) {
      const s = JSON.parse(schemaFileText(kind)) as Record<string, unknown>;
      expect(s.$schema).toBe('http://json-schema.org/draft-07/schema#');
      expect(s.$id).toBe(`urn:vigil:protocol:v1:${kind}`);
      expect(typeof s.title).toBe('string');
      expect(String(s.description).length).toBeGreaterThan(20);
      expect(s.additionalProperties, `${kind} must tolerate unknown fields`).toBe(true);
      walk(s, kind);
    }
    expect(undocumented).toEqual([]);
  });
});

describe('examples', () => {
  it('there is one example per listed kind and every kind has one', () => {
    const files = readdirSync(EXAMPLES_DIR)
      .map((f) => f.replace(/\.json$/, ''))
      .sort();
    expect(files).toEqual(Object.keys(EXAMPLE_KIND).sort());
    expect(new Set(Object.values(EXAMPLE_KIND))).toEqual(new Set(KINDS));
  });

  for (const [name, kind] of Object.entries(EXAMPLE_KIND)) {
    it(`${name}.json is a valid ${kind} for the exported JSON Schema (ajv) and the TypeBox validator`, () => {
      const value = example(name);
      const ajvOk = ajvValidators[kind](value);
      expect(ajvValidators[kind].errors ?? [], JSON.stringify(ajvValidators[kind].errors)).toEqual([]);
      expect(ajvOk).toBe(true);
      expect(MESSAGE_KINDS[kind].validate.issues(value)).toEqual([]);
      if (kind !== 'error' && kind !== 'thumbnail-info') expect(value.v).toBe(1);
    });
  }

  it('event examples have the documented type/rev shape', () => {
    expect(example('event-new')).toMatchObject({ type: 'new', rev: 0 });
    expect(example('event-update')).toMatchObject({ type: 'update', rev: 1 });
    expect(example('event-end')).toMatchObject({ type: 'end', rev: 2 });
    expect(example('event-end').ended_at).toBeDefined();
  });
});

describe('message validation (ajv on the exported schema and TypeBox agree)', () => {
  const base = example('event-new');
  const end = example('event-end');

  const rejectedByBoth: Array<[string, MessageKind, unknown]> = [
    ['v missing', 'event', { ...base, v: undefined }],
    ['v = 2', 'event', { ...base, v: 2 }],
    ['bad event id', 'event', { ...base, id: 'evt_lowercase0000000000000000' }],
    ['event id without prefix', 'event', { ...base, id: '01JGZ60B4W2Y8T6R5Q3P1N9M7K' }],
    ['camera with slash', 'event', { ...base, camera: 'front/door' }],
    ['camera too long', 'event', { ...base, camera: 'c'.repeat(65) }],
    ['device id with +', 'event', { ...base, device_id: 'dev+1' }],
    ['unknown type', 'event', { ...base, type: 'start' }],
    ['negative rev', 'event', { ...base, rev: -1 }],
    ['fractional rev', 'event', { ...base, rev: 0.5 }],
    ['label empty', 'event', { ...base, label: '' }],
    ['label too long', 'event', { ...base, label: 'x'.repeat(65) }],
    ['score above 1', 'event', { ...base, score: 1.01 }],
    ['score as string', 'event', { ...base, score: '0.9' }],
    ['box of 3', 'event', { ...base, box: [0, 0, 1] }],
    ['box out of range', 'event', { ...base, box: [0, 0, 1.2, 1] }],
    ['started_at not a date-time', 'event', { ...base, started_at: '2026-01-01 12:00' }],
    ['started_at epoch number', 'event', { ...base, started_at: 1767268800 }],
    ['new with rev 1', 'event', { ...base, rev: 1 }],
    ['update with rev 0', 'event', { ...base, type: 'update', rev: 0 }],
    ['end without ended_at', 'event', { ...end, ended_at: undefined }],
    [
      'thumbnail wrong content type',
      'event',
      { ...base, thumbnail: { ...example('thumbnail-info'), content_type: 'image/png' } },
    ],
    [
      'thumbnail too large',
      'event',
      { ...base, thumbnail: { ...example('thumbnail-info'), size: THUMBNAIL_MAX_BYTES + 1 } },
    ],
    ['duplicate zones', 'event', { ...base, zones: ['a', 'a'] }],
    ['attribute key uppercase', 'event', { ...base, attributes: { Color: 'red' } }],
    ['attribute value object', 'event', { ...base, attributes: { color: { r: 1 } } }],
    [
      'too many attributes',
      'event',
      { ...base, attributes: Object.fromEntries(Array.from({ length: ATTRIBUTES_MAX + 1 }, (_, i) => [`a${i}`, i])) },
    ],
    ['empty batch', 'event-batch', { v: 1, events: [] }],
    ['batch too large', 'event-batch', { v: 1, events: Array.from({ length: BATCH_MAX_EVENTS + 1 }, () => base) }],
    ['batch with bad item', 'event-batch', { v: 1, events: [base, { ...base, score: 7 }] }],
    ['heartbeat without outbox', 'heartbeat', { ...example('heartbeat'), outbox: undefined }],
    [
      'heartbeat unknown camera state',
      'heartbeat',
      {
        ...example('heartbeat'),
        cameras: [{ name: 'a', state: 'sleeping', fps: 1, last_frame_age_s: 1, restarts: 0 }],
      },
    ],
    ['ack unknown status', 'ack', { ...example('ack'), acks: [{ id: 'x', rev: 0, kind: 'event', status: 'maybe' }] }],
    ['availability unknown state', 'availability', { v: 1, state: 'sleeping', at: '2026-01-01T00:00:00Z' }],
    ['pairing code with spaces', 'pairing-request', { v: 1, code: 'K7QX M2PD' }],
    ['pairing secret not 32 bytes', 'pairing-response', { ...example('pairing-response'), secret_b64: 'AAAA' }],
    [
      'pairing https not a URL',
      'pairing-response',
      { ...example('pairing-response'), endpoints: { https: 'vigil.example.com' } },
    ],
    ['error without code', 'error', { error: { message: 'x', request_id: 'r' } }],
    [
      'envelope with v1= prefix in sig',
      'envelope',
      { ...example('envelope'), sig: `v1=${String(example('envelope').sig)}` },
    ],
  ];
  for (const [what, kind, value] of rejectedByBoth) {
    it(`rejects: ${what}`, () => {
      const clean = JSON.parse(JSON.stringify(value)) as unknown; // drop undefined fields like the wire would
      expect(bothAccept(kind, clean)).toEqual([false, false]);
    });
  }

  it('accepts unknown fields everywhere (a v1 reader ignores them), in both validators', () => {
    const withExtras = {
      ...base,
      future_field: { nested: true },
      thumbnail: { ...example('thumbnail-info'), blurhash: 'LEHV6nWB2yk8' },
    };
    expect(bothAccept('event', withExtras)).toEqual([true, true]);
    const hb = example('heartbeat') as { outbox: object; cameras: object[] };
    expect(
      bothAccept('heartbeat', {
        ...hb,
        gpu_temp_c: 61,
        outbox: { ...hb.outbox, bytes: 10 },
        cameras: [{ ...hb.cameras[0], codec: 'h264' }],
      }),
    ).toEqual([true, true]);
    expect(bothAccept('ack', { ...example('ack'), trace: 'abc' })).toEqual([true, true]);
  });

  it('box ordering (x1 ≤ x2, y1 ≤ y2) and time order are enforced by the TypeBox validator, precisely', () => {
    const swapped = { ...base, box: [0.6, 0.2, 0.4, 0.7] };
    expect(validateEvent.issues(swapped)).toEqual([{ path: '/box', message: 'x1 (0.6) must be ≤ x2 (0.4)' }]);
    expect(validateEvent.issues({ ...base, box: [0.1, 0.9, 0.4, 0.7] })[0]?.message).toContain(
      'y1 (0.9) must be ≤ y2 (0.7)',
    );
    expect(validateEvent.issues({ ...end, ended_at: '2026-01-01T11:00:00Z' })).toEqual([
      { path: '/ended_at', message: 'must not precede started_at' },
    ]);
    expect(validateEvent.check({ ...base, box: [0.5, 0.5, 0.5, 0.5] })).toBe(true); // degenerate but ordered
    expect(() => validateEvent.parse(swapped, 'event')).toThrowError(/event: \/box: x1/);
  });

  it('names the field and the rule in parse errors', () => {
    try {
      validateEvent.parse({ ...base, score: 2, camera: 'a/b' }, 'event');
      expect.unreachable();
    } catch (err) {
      const e = err as { code: string; status: number; message: string };
      expect(e.code).toBe('invalid_message');
      expect(e.status).toBe(400);
      expect(e.message).toContain('/score');
      expect(e.message).toContain('/camera');
    }
  });

  it('splitEventsBody keeps the good items of a batch and reports the bad ones with id, rev and pointer', () => {
    const bad = { ...base, id: 'evt_01JGZ61C5X3Z9V7S6R4Q2P0N8M', score: 3 };
    const { events, rejected } = splitEventsBody({ v: 1, events: [base, bad, 'junk'] });
    expect(events).toHaveLength(1);
    expect(rejected).toMatchObject([
      { index: 1, kind: 'event', id: 'evt_01JGZ61C5X3Z9V7S6R4Q2P0N8M', rev: 0, issues: [{ path: '/events/1/score' }] },
      { index: 2, kind: 'event', id: undefined, rev: undefined },
    ]);
    expect(splitEventsBody(base)).toEqual({
      events: [base],
      reviews: [],
      rejected: [],
      items: [{ index: 0, kind: 'event', message: base }],
    });
    expect(() => splitEventsBody({ v: 1, events: [] })).toThrowError(/event batch/);
    expect(parseEventsBody(example('event-batch'))).toHaveLength(2);
    expect(() => parseEventsBody({ v: 1, events: [base, bad] })).toThrowError(/\/events\/1\/score/);
  });
});

describe('error catalogue and limits', () => {
  it('contains every SigningErrorCode with the status the verifier uses', () => {
    for (const code of Object.values(SigningErrorCode)) expect(WIRE_ERRORS, code).toHaveProperty(code);
    expect(statusForCode(SigningErrorCode.deviceMismatch)).toBe(403);
    for (const code of Object.values(SigningErrorCode).filter((c) => c !== SigningErrorCode.deviceMismatch))
      expect(statusForCode(code), code).toBe(401);
  });

  it('contains the documented non-signing codes with plausible statuses', () => {
    const expected: Record<string, number> = {
      invalid_json: 400,
      invalid_message: 400,
      payload_too_large: 413,
      unsupported_media_type: 415,
      event_conflict: 409,
      unknown_event: 404,
      rate_limited: 429,
      pairing_code_invalid: 400,
      pairing_code_expired: 410,
      pairing_code_used: 409,
      unauthorized: 401,
      not_found: 404,
      device_revoked: 403,
    };
    for (const [code, status] of Object.entries(expected)) expect(statusForCode(code), code).toBe(status);
    for (const code of Object.keys(WIRE_ERRORS)) expect(code).toMatch(/^[a-z][a-z0-9_]*$/);
    expect(statusForCode('no_such_code')).toBe(500);
  });

  it('sizes the MQTT envelope for a maximal thumbnail including base64 overhead', () => {
    expect(envelopeBytesFor(3)).toBe(4 + 1024);
    expect(envelopeBytesFor(4)).toBe(8 + 1024);
    expect(MQTT_ENVELOPE_MAX_BYTES).toBe(Math.ceil(THUMBNAIL_MAX_BYTES / 3) * 4 + 1024);
    expect(MQTT_ENVELOPE_MAX_BYTES).toBe(2_797_228);
    // A real envelope around a maximal body fits.
    const body = Buffer.alloc(THUMBNAIL_MAX_BYTES, 0xab);
    const env = {
      ...example('envelope'),
      device: 'd'.repeat(64),
      kid: 'k'.repeat(64),
      nonce: 'n'.repeat(64),
      body_b64: body.toString('base64'),
    };
    expect(Buffer.byteLength(JSON.stringify(env))).toBeLessThanOrEqual(MQTT_ENVELOPE_MAX_BYTES);
  });
});
