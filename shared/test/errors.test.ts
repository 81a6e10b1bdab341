import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { defineErrors, describeError, isVigilError, VigilError as BaseVigilError } from '../errors/index.js';
import { VigilError as CommonError } from '../errors/common.js';
import { validator } from '../schema/index.js';

class TestError extends defineErrors({
  thing_broken: { status: 409, retry: 'drop', message: 'the thing is broken' },
  disk_gone: { retry: 'fix_config', message: 'the disk is gone' },
}) {}

class OtherError extends defineErrors({ other_thing: { status: 503, retry: 'retry_later', message: 'other' } }) {}

describe('error registries (defineErrors)', () => {
  it('give a code its status and default message; a call site passes only message, details and cause', () => {
    const cause = new Error('root');
    const e = new TestError('thing_broken', undefined, { details: { id: 1 }, cause });
    expect([e.code, e.status, e.message, e.details, e.cause]).toEqual([
      'thing_broken',
      409,
      'the thing is broken',
      { id: 1 },
      cause,
    ]);
    expect(new TestError('thing_broken', 'thing 7 is broken').message).toBe('thing 7 is broken');
    expect(e.name).toBe('VigilError');
    expect(describeError(e)).toBe('thing_broken: the thing is broken');
  });

  it('a code without a status has status undefined (never a made-up 500)', () => {
    expect(new TestError('disk_gone').status).toBeUndefined();
    expect(new CommonError('config_invalid', 'x').status).toBeUndefined();
  });

  it('looks codes up, and refuses an unknown code at compile time and at run time', () => {
    expect(TestError.spec('thing_broken')).toEqual({ status: 409, retry: 'drop', message: 'the thing is broken' });
    expect(TestError.spec('other_thing')).toBeUndefined();
    expect(TestError.spec('toString')).toBeUndefined();
    expect(TestError.has('disk_gone')).toBe(true);
    expect(TestError.has('other_thing')).toBe(false);
    // @ts-expect-error an unregistered code does not compile
    expect(() => new TestError('other_thing', 'x')).toThrow(TypeError);
  });

  it('isVigilError holds across registries; instanceof a registry class only for its own errors', () => {
    const mine = new TestError('thing_broken');
    const theirs = new OtherError('other_thing');
    for (const e of [mine, theirs]) {
      expect(isVigilError(e)).toBe(true);
      expect(e).toBeInstanceOf(BaseVigilError);
    }
    expect(isVigilError(theirs, 'other_thing')).toBe(true);
    expect(isVigilError(theirs, 'thing_broken')).toBe(false);
    expect(theirs instanceof TestError).toBe(false);
    expect(isVigilError(new Error('plain'))).toBe(false);
  });

  it('received(): an error the peer reported keeps its code and the status it answered with', () => {
    const e = BaseVigilError.received('pairing_code_expired', 'expired at noon', 410, { details: { url: 'u' } });
    expect([e.code, e.status, e.message, e.details]).toEqual([
      'pairing_code_expired',
      410,
      'expired at noon',
      { url: 'u' },
    ]);
    expect(BaseVigilError.received('http_502', 'bad gateway', undefined).status).toBeUndefined();
  });

  it('withDetails() adds details (a CLI exit code) and keeps code, status and message', () => {
    const e = new TestError('thing_broken', 'broken', { details: { id: 1 } });
    const wrapped = e.withDetails({ exitCode: 78 });
    expect([wrapped.code, wrapped.status, wrapped.message, wrapped.details, wrapped.cause]).toEqual([
      'thing_broken',
      409,
      'broken',
      { id: 1, exitCode: 78 },
      e,
    ]);
  });

  it('a validator throws the wire invalid_message (400) by default, or the code of the registry it is given', () => {
    const schema = Type.Object({ n: Type.Integer() });
    const fail = (v: { parse(x: unknown): unknown }): BaseVigilError => {
      try {
        v.parse({ n: 'x' });
      } catch (err) {
        if (isVigilError(err)) return err;
      }
      throw new Error('expected a VigilError');
    };
    const byDefault = fail(validator(schema));
    expect([byDefault.code, byDefault.status]).toEqual(['invalid_message', 400]);
    const custom = fail(validator(schema, { code: 'thing_broken', registry: TestError }));
    expect([custom.code, custom.status]).toEqual(['thing_broken', 409]);
    expect(custom.details).toEqual({ issues: [{ path: '/n', message: expect.any(String) }] });
    // @ts-expect-error the code must be one of the registry's
    validator(schema, { code: 'other_thing', registry: TestError });
  });
});
