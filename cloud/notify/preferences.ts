import type { PushPreferences, PushTokenRecord } from '../store/push-tokens.js';
import { inQuietHours } from './quiet-hours.js';

/**
 * Per registration notification preferences (set by the app: PUT /v1/push/tokens/{id}/preferences), pure: which of
 * the tenant's phones and browsers a push goes to. A registration is skipped when the push's labels are none of
 * its labels, its camera is not one of its cameras, or `now` falls in its quiet hours (local time of its time zone).
 * The tenant-wide policy (./policy.ts, ./review-policy.ts) decides first whether there is a push at all.
 */
export interface PushSubject {
  deviceId: string;
  camera: string;
  /** The event's label, or the review item's labels (a match on any one is enough). */
  labels: readonly string[];
}

export type ExclusionReason = 'label' | 'camera' | 'quiet_hours';

/** Why these preferences exclude the push, or null when they let it through. */
export function excludedBy(p: PushPreferences, s: PushSubject, now: number): ExclusionReason | null {
  if (p.labels !== null && !s.labels.some((l) => p.labels?.includes(l))) return 'label';
  if (p.cameras !== null && !p.cameras.includes(`${s.deviceId}/${s.camera}`)) return 'camera';
  const q = p.quietHours;
  if (q && quiet(now, q)) return 'quiet_hours';
  return null;
}

function quiet(now: number, q: NonNullable<PushPreferences['quietHours']>): boolean {
  try {
    return inQuietHours(now, { start: q.start, end: q.end, time_zone: q.timeZone });
  } catch {
    // A zone this runtime no longer knows (checked when it was set): better a push than silence.
    return false;
  }
}

/** The registrations that get the push, and how many each reason left out. */
export function wantedTargets<T extends Pick<PushTokenRecord, 'preferences'>>(
  tokens: readonly T[],
  s: PushSubject,
  now: number,
): { wanted: T[]; skipped: Partial<Record<ExclusionReason, number>> } {
  const wanted: T[] = [];
  const skipped: Partial<Record<ExclusionReason, number>> = {};
  for (const t of tokens) {
    const why = excludedBy(t.preferences, s, now);
    if (why === null) wanted.push(t);
    else skipped[why] = (skipped[why] ?? 0) + 1;
  }
  return { wanted, skipped };
}
