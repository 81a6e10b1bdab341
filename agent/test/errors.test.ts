import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { AGENT_ERRORS, VigilError } from '../errors.js';
import { Outbox } from '../outbox/index.js';
import { fakeJpeg, makeEvent } from './support-uplink/events.js';
import { thrown } from './support/outbox-fixture.js';

describe('the agent registry', () => {
  it('agent-only codes carry no HTTP status; wire codes carry the catalogue status', () => {
    expect(new VigilError('outbox_full', 'full').status).toBeUndefined();
    expect(new VigilError('camera_timeout').status).toBeUndefined();
    expect(new VigilError('invalid_json').status).toBe(400);
    expect(AGENT_ERRORS.thumbnail_mismatch.status).toBe(409);
  });

  it('a CLI exit code rides in details and survives withDetails', () => {
    const e = new VigilError('not_paired', 'pair first').withDetails({ exitCode: 78 });
    expect([e.code, e.status, e.details?.exitCode]).toEqual(['not_paired', undefined, 78]);
  });
});

describe('outbox errors', () => {
  let dir: string;
  let ob: Outbox | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-errors-'));
  });
  afterEach(() => {
    ob?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'a thumbnail other than the announced one is thumbnail_mismatch with the catalogue status 409 (it ' + 'was 400)',
    () => {
      ob = Outbox.open({ path: join(dir, 'outbox.db'), clock: new ManualClock(Date.UTC(2026, 0, 1)) });
      const jpeg = fakeJpeg(3000, 1);
      const announced = { sha256: createHash('sha256').update(fakeJpeg(3000, 2)).digest('hex'), size: jpeg.length };
      const err = thrown(() =>
        ob!.enqueue(makeEvent({ thumbnail: announced } as Parameters<typeof makeEvent>[0]), jpeg),
      );
      expect([err.code, err.status]).toEqual(['thumbnail_mismatch', 409]);
    },
  );

  it('outbox-only refusals carry no HTTP status (they were 400/413/507)', () => {
    ob = Outbox.open({ path: join(dir, 'outbox.db'), clock: new ManualClock(Date.UTC(2026, 0, 1)) });
    const err = thrown(() => ob!.enqueue({ id: '', rev: 0, type: 'new' }));
    expect([err.code, err.status]).toEqual(['invalid_event', undefined]);
  });
});
