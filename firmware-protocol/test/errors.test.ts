import { describe, expect, it } from 'vitest';
import { AGENT_ERRORS } from '../../agent/errors.js';
import { CLOUD_ERRORS } from '../../cloud/errors.js';
import type { ErrorSpec } from '../../shared/errors/index.js';
import { isVigilError } from '../../shared/errors/index.js';
import { COMMON_ERRORS } from '../../shared/errors/common.js';
import { parseMqttEnvelope, signMqttMessage } from '../../shared/signing/index.js';
import { PROTOCOL_ERRORS, VigilError, WIRE_ERRORS, type WireErrorCodeValue } from '../errors.js';
import { validateMqttEnvelope } from '../messages.js';
import { eventsTopic } from '../topics.js';

/**
 * The wire catalogue (WIRE_ERRORS) is the source of truth for a wire code's status: every registry that knows a wire
 * code gives it the catalogue's status and advice, and the code that throws wire codes gets them from there.
 */
const REGISTRIES: Record<string, Readonly<Record<string, ErrorSpec>>> = {
  protocol: PROTOCOL_ERRORS,
  cloud: CLOUD_ERRORS,
  agent: AGENT_ERRORS,
};
const WIRE_CODES = Object.keys(WIRE_ERRORS) as WireErrorCodeValue[];

function thrown(fn: () => unknown): { code: string; status: number | undefined } {
  try {
    fn();
  } catch (err) {
    if (isVigilError(err)) return { code: err.code, status: err.status };
    throw err;
  }
  throw new Error('expected a VigilError');
}

describe('error registries agree with the wire catalogue', () => {
  it('every registry has every wire code, with the catalogue status and retry advice', () => {
    const disagree: string[] = [];
    for (const [side, table] of Object.entries(REGISTRIES)) {
      for (const code of WIRE_CODES) {
        const spec = table[code];
        const wire = WIRE_ERRORS[code];
        if (spec?.status !== wire.status || spec.retry !== wire.retry)
          disagree.push(`${side} ${code}: ${spec?.status} ${spec?.retry} ≠ ${wire.status} ${wire.retry}`);
      }
    }
    expect(disagree).toEqual([]);
  });

  it('a code both sides know means the same on both; the common codes carry no status', () => {
    for (const code of Object.keys(CLOUD_ERRORS).filter((c) => Object.hasOwn(AGENT_ERRORS, c))) {
      expect(AGENT_ERRORS[code as keyof typeof AGENT_ERRORS], code).toEqual(
        CLOUD_ERRORS[code as keyof typeof CLOUD_ERRORS],
      );
    }
    for (const [code, spec] of Object.entries(COMMON_ERRORS)) expect((spec as ErrorSpec).status, code).toBeUndefined();
  });

  it('every cloud code has an HTTP status of 400..599, except the common ones (500 at the API)', () => {
    const bad = Object.entries(CLOUD_ERRORS as Record<string, ErrorSpec>)
      .filter(([code]) => !Object.hasOwn(COMMON_ERRORS, code))
      .filter(([, spec]) => spec.status === undefined || spec.status < 400 || spec.status > 599);
    expect(bad).toEqual([]);
  });

  it('agent-only codes carry no HTTP status', () => {
    const withStatus = Object.entries(AGENT_ERRORS as Record<string, ErrorSpec>).filter(
      ([code, spec]) => !Object.hasOwn(PROTOCOL_ERRORS, code) && spec.status !== undefined,
    );
    expect(withStatus).toEqual([]);
  });

  it('snake_case codes, each with a default message', () => {
    for (const table of Object.values(REGISTRIES)) {
      for (const [code, spec] of Object.entries(table)) {
        expect(code).toMatch(/^[a-z][a-z0-9_]*$/);
        expect(spec.message.length, code).toBeGreaterThan(0);
      }
    }
  });

  it('the protocol VigilError takes the catalogue status', () => {
    for (const code of WIRE_CODES) expect(new VigilError(code).status, code).toBe(WIRE_ERRORS[code].status);
  });
});

describe('wire codes thrown by shared code carry the catalogue status', () => {
  const creds = { deviceId: 'dev-1', keyId: 'k1', secret: Buffer.alloc(32, 7) };
  const topic = eventsTopic('dev-1');
  const envelope = (patch: Record<string, unknown>): Buffer =>
    Buffer.from(JSON.stringify({ ...signMqttMessage(creds, topic, Buffer.from('{}')), ...patch }));

  it('a malformed MQTT envelope is signature_malformed 401, as over HTTP (it was 400)', () => {
    const cases = [
      Buffer.from('not json'),
      Buffer.from('[1]'),
      envelope({ v: 2 }),
      envelope({ ts: -1 }),
      envelope({ body_b64: 'x' }),
      envelope({ nonce: 5 }),
    ];
    for (const payload of cases)
      expect(
        thrown(() => parseMqttEnvelope(payload, topic)),
        payload.toString(),
      ).toEqual({ code: 'signature_malformed', status: 401 });
    expect(thrown(() => validateMqttEnvelope.parse({ v: 1 }))).toEqual({ code: 'signature_malformed', status: 401 });
  });

  it('a missing envelope field is signature_missing 401', () => {
    const { sig: _sig, ...rest } = signMqttMessage(creds, topic, Buffer.from('{}'));
    expect(thrown(() => parseMqttEnvelope(Buffer.from(JSON.stringify(rest)), topic))).toEqual({
      code: 'signature_missing',
      status: 401,
    });
  });
});
