import type { Clock } from '../../shared/clock/index.js';
import { describeError } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { EventBus } from '../live/event-bus.js';
import type { LostEventEnd } from '../store/event-sweep.js';
import type { Store } from '../store/store.js';

/**
 * The lost-event sweeper: every `events.sweep_interval`, ends (end_reason device_lost) the events of boxes that went
 * quiet or restarted at least `events.lost_after` ago without ending them (the SQL and its rules:
 * cloud/store/event-sweep.ts). Each event it ends goes to the live feed like any change, so apps see it end.
 * Several collectors on one database may all run it: each end is a conditional UPDATE, done once.
 */
export interface LostEventSweeperOptions {
  store: Store;
  bus: EventBus;
  clock: Clock;
  log: Logger;
  lostAfterMs: number;
  intervalMs: number;
}

export interface LostEventSweeper {
  /** One sweep now (also what the timer runs); resolves with what it ended. Never rejects. */
  sweepNow(): Promise<LostEventEnd[]>;
  /** Events this collector ended since start. */
  readonly ended: number;
  stop(): Promise<void>;
}

/** Events ended per sweep at most; the next sweep takes the rest. */
const BATCH = 500;

export function startLostEventSweeper(o: LostEventSweeperOptions): LostEventSweeper {
  let ended = 0;
  let running: Promise<LostEventEnd[]> | undefined;
  let stopped = false;

  const sweep = async (): Promise<LostEventEnd[]> => {
    try {
      const done = await o.store.endLostEvents(o.clock.now(), o.lostAfterMs, BATCH);
      for (const e of done) {
        // No rev: the event gained no message; the live feed sends it as event.updated.
        const at = o.clock.now();
        o.bus.publish({ type: 'event.stored', tenantId: e.tenantId, deviceId: e.deviceId, eventId: e.eventId, at });
      }
      if (done.length > 0) {
        ended += done.length;
        const devices = [...new Set(done.map((e) => e.deviceId))];
        const offline = done.filter((e) => e.why === 'offline').length;
        o.log.warn(
          { ended: done.length, devices: devices.slice(0, 20), offline, restarted: done.length - offline },
          'ended events their box can no longer end (silent or restarted for events.lost_after): device_lost',
        );
      }
      return done;
    } catch (err) {
      o.log.warn({ err: describeError(err) }, 'lost-event sweep failed; trying again at the next interval');
      return [];
    }
  };
  const sweepNow = (): Promise<LostEventEnd[]> => {
    running ??= sweep().finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(
    () => {
      if (!stopped) void sweepNow();
    },
    Math.max(50, o.intervalMs),
  );
  timer.unref();

  return {
    sweepNow,
    get ended() {
      return ended;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
