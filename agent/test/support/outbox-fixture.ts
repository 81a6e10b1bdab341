import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { ManualClock } from '../../../shared/clock/index.js';
import { isVigilError, type VigilError } from '../../../shared/errors/index.js';
import { Outbox, type ItemRef, type OutboxOptions } from '../../outbox/index.js';

/** The start time of every test's clock. */
export const T0 = Date.UTC(2026, 0, 1);

/**
 * Outbox unit tests' setup, registered with vitest where it is called: a fresh temp dir per test, a manual clock
 * reset to T0, and `outbox()` opening `<dir>/outbox.db` with that clock and a fixed jitter; everything opened is
 * closed and the dir removed after each test.
 */
export interface OutboxFixture {
  readonly dir: string;
  /** `<dir>/outbox.db`. */
  readonly path: string;
  readonly clock: ManualClock;
  outbox(o?: Partial<OutboxOptions>): Outbox;
}

export function outboxFixture(prefix = 'vigil-outbox-'): OutboxFixture {
  const opened: Outbox[] = [];
  const clock = new ManualClock(T0);
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    clock.set(T0);
  });
  afterEach(() => {
    for (const o of opened.splice(0)) o.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get path() {
      return join(dir, 'outbox.db');
    },
    clock,
    outbox(o: Partial<OutboxOptions> = {}): Outbox {
      const ob = Outbox.open({ path: join(dir, 'outbox.db'), clock, random: () => 0.5, ...o });
      opened.push(ob);
      return ob;
    },
  };
}

/** The VigilError `fn` throws (anything else is rethrown; no throw fails the test). */
export function thrown(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (err) {
    if (isVigilError(err)) return err;
    throw err;
  }
  throw new Error('expected a VigilError');
}

export const ref = (kind: 'event' | 'thumbnail', eventId: string, rev: number): ItemRef => ({ kind, eventId, rev });
