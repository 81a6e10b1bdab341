import { Writable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ManualClock, OffsetClock, parseDuration } from '../clock/index.js';
import { defineErrors, describeError, isVigilError } from '../errors/index.js';
import { humanCode, isUlid, newEventId, ulid, ulidTime } from '../ids/index.js';
import { createLogger } from '../log/index.js';
import { validator } from '../schema/index.js';

describe('ids', () => {
  it('are ULIDs that sort by time, also within one millisecond', () => {
    const t = Date.UTC(2026, 10, 23, 12);
    const ids = [ulid(t), ulid(t), ulid(t), ulid(t + 1), ulid(t - 5)];
    for (const id of ids) expect(isUlid(id)).toBe(true);
    expect([...ids.slice(0, 4)].sort()).toEqual(ids.slice(0, 4));
    expect(ulidTime(ids[0]!)).toBe(t);
    // A clock going backwards never produces an id that sorts before the previous one.
    expect(ids[4]! > ids[3]!).toBe(true);
  });

  it('prefix event ids and make typeable codes', () => {
    expect(newEventId()).toMatch(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(humanCode()).toMatch(/^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
  });
});

describe('clock', () => {
  it('offset clock corrects a base clock', () => {
    const base = new ManualClock(1000);
    const c = new OffsetClock(base);
    c.offsetMs = 500;
    expect(c.now()).toBe(1500);
    base.advance(10);
    expect(c.now()).toBe(1510);
  });
  it('parses durations and rejects nonsense', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2')).toBe(2000);
    expect(() => parseDuration('soon')).toThrow(/not a duration/);
  });
});

describe('errors', () => {
  class TestError extends defineErrors({ thing_broken: { status: 409, retry: 'drop', message: 'broken' } }) {}
  it('carry a stable code and status', () => {
    const e = new TestError('thing_broken', 'the thing is broken', { details: { id: 1 } });
    expect(e.status).toBe(409);
    expect(isVigilError(e, 'thing_broken')).toBe(true);
    expect(isVigilError(e, 'other')).toBe(false);
    expect(e.toJSON()).toEqual({ code: 'thing_broken', message: 'the thing is broken', details: { id: 1 } });
    expect(describeError(e)).toBe('thing_broken: the thing is broken');
  });
});

describe('schema validation', () => {
  const v = validator(
    Type.Object({
      score: Type.Number({ minimum: 0, maximum: 1 }),
      at: Type.String({ format: 'date-time' }),
      tags: Type.Array(Type.String()),
    }),
  );
  it('accepts valid input', () => {
    expect(v.check({ score: 0.5, at: '2026-11-23T10:00:00Z', tags: [] })).toBe(true);
  });
  it('names each failing field and its rule', () => {
    let err: unknown;
    try {
      v.parse({ score: 3, at: 'yesterday', tags: [1] }, 'event');
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'invalid_message')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('event: ');
    expect(msg).toContain('/score');
    expect(msg).toContain('range 0..1');
    expect(msg).toContain('/at');
    expect(msg).toContain('format date-time');
    expect(msg).toContain('/tags/0');
  });
});

describe('logger', () => {
  it('writes JSON with a component field and redacts secrets', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const log = createLogger({ component: 'uplink', level: 'debug', destination: sink, bindings: { camera: 'door' } });
    log.info(
      {
        secret: 'hunter2',
        creds: { secret: 'abc', token: 'tkn' },
        signature: 'v1=xyz',
        req: { headers: { authorization: 'Bearer t', cookie: 'vigil_session=s3ss', 'x-csrf-token': 'csrf9' } },
        session: { csrf_token: 'csrf8' },
      },
      'sent',
    );
    await new Promise((r) => setImmediate(r));
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line.component).toBe('uplink');
    expect(line.camera).toBe('door');
    expect(line.level).toBe('info');
    const text = lines.join('\n');
    for (const s of ['hunter2', '"abc"', 'tkn', 'v1=xyz', 'Bearer t', 's3ss', 'csrf9', 'csrf8'])
      expect(text).not.toContain(s);
    expect(text).toContain('[redacted]');
  });
});

describe('componentLogger', () => {
  it('replaces the component instead of writing it twice, and keeps other bindings and the level', async () => {
    const { componentLogger } = await import('../log/index.js');
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const root = createLogger({ component: 'cloud', level: 'warn', destination: sink });
    const withDevice = root.child({ device_id: 'dev_1' });
    const http = componentLogger(withDevice, 'http', { request_id: 'r1' });
    http.warn('hello');
    http.info('dropped: below the level');
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.match(/"component"/g)).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      component: 'http',
      device_id: 'dev_1',
      request_id: 'r1',
      msg: 'hello',
    });
  });
});
