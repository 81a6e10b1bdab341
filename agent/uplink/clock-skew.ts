import type { OffsetClock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import { SigningErrorCode } from '../../shared/signing/index.js';
import type { Transport } from './types.js';

/** The wire code of a signature refused for its timestamp (clock skew). */
export const SKEW = SigningErrorCode.timestamp;
/** A correction at least this large is logged and counted (`clockAdjustments`). */
export const NOTICEABLE_CORRECTION_MS = 1_000;
/** After a correction larger than this, everything in flight is sent again at once (its signatures are refused). */
export const RESEND_AFTER_CORRECTION_MS = 250_000;
/** Clock syncs over HTTPS (heartbeats) are at least this far apart. */
export const CLOCK_SYNC_INTERVAL_MS = 10_000;

/** Sets the offset so that `clock.now()` reads `serverMs` at this moment. Returns the change in ms. */
export function adjustToServerTime(clock: OffsetClock, serverMs: number): number {
  const base = clock.now() - clock.offsetMs;
  const before = clock.offsetMs;
  clock.offsetMs = Math.round(serverMs - base);
  return clock.offsetMs - before;
}

/** Collector time from an HTTP error: `details.server_time` (unix s) is exact; the `Date` header has 1 s resolution. */
export function serverTimeFromHttp(
  dateHeader: string | undefined,
  details: Record<string, unknown> | undefined,
): number | undefined {
  const st = details?.server_time;
  if (typeof st === 'number' && Number.isFinite(st)) return st * 1000 + 500;
  if (typeof st === 'string' && !Number.isNaN(Date.parse(st))) return Date.parse(st);
  if (dateHeader) {
    const t = Date.parse(dateHeader);
    if (!Number.isNaN(t)) return t + 500; // the header truncates to the second
  }
  return undefined;
}

export interface ClockCorrectorOptions {
  /** The corrected clock every signature and message time uses; its offset is what changes. */
  clock: OffsetClock;
  log: Logger;
  /** Clock differences below this are left alone (the HTTP Date header has 1 s resolution). */
  slackMs: number;
  /**
   * An HTTPS transport used only to learn the collector's time when MQTT acks fail the timestamp check (protocol
   * §6/§7): a heartbeat is sent over it and the answer's time sets the offset. Without it the time comes from the
   * stale ack's signed `server_time`.
   */
  clockSync?: Transport | undefined;
  /** A heartbeat body to send over `clockSync`. */
  heartbeat: () => Buffer;
  /** A noticeable correction was made (≥ 1 s). */
  onCorrected: (changeMs: number) => void;
  /** The correction was so large that nothing in flight will be acked: send it all again now. */
  resendInFlight: () => void;
}

/**
 * Clock correction. A box without a battery-backed clock may boot in 1970; the collector rejects signatures more
 * than ±300 s off and tells its own time (HTTP `Date` / error `server_time`, MQTT ack `server_time`). The uplink
 * keeps a correction offset on its OffsetClock and signs with the corrected clock; nothing queued is dropped for
 * a wrong clock.
 */
export class ClockCorrector {
  private lastSync = 0;

  constructor(private readonly o: ClockCorrectorOptions) {}

  /** Follows the collector's clock when it differs by more than the slack (protocol §7 SHOULD). */
  follow(serverMs: number, why: string): void {
    const off = Math.abs(serverMs - this.o.clock.now());
    if (Number.isFinite(serverMs) && off > this.o.slackMs) this.correct(serverMs, why);
  }

  /** Sets the clock to the collector's time (the collector refused a timestamp, or `follow` found it off). */
  correct(serverMs: number, why: string): void {
    const change = adjustToServerTime(this.o.clock, serverMs);
    if (Math.abs(change) >= NOTICEABLE_CORRECTION_MS) {
      this.o.onCorrected(change);
      const fields = { change_ms: change, offset_ms: this.o.clock.offsetMs, why };
      this.o.log.warn(fields, 'uplink: corrected the clock offset from the collector time');
    }
    // Everything in flight was signed with the wrong clock and will never be acked: send it again now.
    if (Math.abs(change) > RESEND_AFTER_CORRECTION_MS) this.o.resendInFlight();
  }

  /**
   * An ack's signature was good but its timestamp outside the window: learn the collector's time over HTTPS (a
   * heartbeat), at most every 10 s; without HTTPS, or when its answer has no time, from `fallbackServerMs` (the
   * stale ack's signed `server_time`).
   */
  async syncOverHttps(fallbackServerMs: number): Promise<void> {
    const now = Date.now();
    if (now - this.lastSync < CLOCK_SYNC_INTERVAL_MS) return;
    this.lastSync = now;
    const stale = 'signed server_time of an ack outside the time window';
    const sync = this.o.clockSync;
    if (!sync) {
      this.follow(fallbackServerMs, stale);
      return;
    }
    const result = await sync.sendHeartbeat(this.o.heartbeat());
    const serverMs = result.failure?.serverTimeMs ?? result.serverTimeMs;
    if (serverMs !== undefined) this.follow(serverMs, 'clock sync over HTTPS');
    else this.follow(fallbackServerMs, stale);
    // The heartbeat itself was refused for the skew; once corrected, send one that counts.
    if (result.failure?.code === SKEW) await sync.sendHeartbeat(this.o.heartbeat());
  }
}
