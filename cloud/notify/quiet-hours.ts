import { VigilError } from '../errors.js';
import type { QuietHours } from './config.js';

/**
 * Quiet hours: a daily local-time window (possibly over midnight) in a fixed UTC offset or an IANA time zone.
 * Pure functions of the instant, so the policy stays testable with any clock.
 */
const OFFSET = /^([+-])(\d{2}):?(\d{2})$/;

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** Minutes since local midnight of `nowMs` in `timeZone` (an offset like +01:00, or an IANA zone name). */
export function localMinuteOfDay(nowMs: number, timeZone: string): number {
  const off = OFFSET.exec(timeZone);
  if (off) {
    const sign = off[1] === '-' ? -1 : 1;
    const offsetMin = sign * (Number(off[2]) * 60 + Number(off[3]));
    const local = new Date(nowMs + offsetMin * 60_000);
    return local.getUTCHours() * 60 + local.getUTCMinutes();
  }
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(new Date(nowMs));
  } catch {
    throw new VigilError(
      'config_invalid',
      `quiet_hours.time_zone: "${timeZone}" is neither an offset like +01:00 nor a known IANA time zone`,
    );
  }
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return hour * 60 + minute;
}

/** True when `nowMs` falls inside the window [start, end) local time. start = end means no quiet hours. */
export function inQuietHours(nowMs: number, q: QuietHours): boolean {
  const start = minutesOf(q.start);
  const end = minutesOf(q.end);
  if (start === end) return false;
  const t = localMinuteOfDay(nowMs, q.time_zone);
  return start < end ? t >= start && t < end : t >= start || t < end;
}

/** Checks a time zone once (at startup) so a typo fails loudly instead of at 3 am. */
export function assertTimeZone(timeZone: string, where: string): void {
  try {
    localMinuteOfDay(0, timeZone);
  } catch (err) {
    throw new VigilError('config_invalid', `${where}: ${(err as Error).message}`, { cause: err });
  }
}
