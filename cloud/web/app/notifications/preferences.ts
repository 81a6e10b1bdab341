import type { PushPreferencesJson } from '../api/types.js';

/**
 * What a phone or browser is notified of (PUT /v1/push/tokens/{id}/preferences): the labels and cameras that may
 * ring it (null = all, also those added later) and its quiet hours. The form keeps the ticked boxes, or null while
 * every one is ticked: saved as null, so a camera or label added later notifies without a visit here.
 */
export interface PreferencesForm {
  labels: string[] | null;
  cameras: string[] | null;
  quiet: boolean;
  start: string;
  end: string;
  timeZone: string;
}

/** Labels offered as toggles (plus any the saved preferences name). */
export const NOTIFY_LABELS = ['person', 'car', 'dog', 'cat', 'bicycle', 'motorcycle', 'bus', 'truck'];

/** The browser's time zone (IANA name), the default for quiet hours. */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Time zones to offer: every IANA zone the browser knows, with the current one kept in the list. */
export function timeZones(current: string): string[] {
  let all: string[] = [];
  try {
    all = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  } catch {
    all = [];
  }
  const set = new Set([...all, 'UTC', current, browserTimeZone()]);
  return [...set].sort();
}

/** Options shown = what the collector offers plus whatever the saved preferences name (kept visible). */
export function withSaved(options: readonly string[], saved: readonly string[] | null | undefined): string[] {
  return [...new Set([...options, ...(saved ?? [])])].sort();
}

export function formFrom(prefs: PushPreferencesJson | null | undefined): PreferencesForm {
  const q = prefs?.quiet_hours ?? null;
  return {
    labels: prefs?.labels ? [...prefs.labels] : null,
    cameras: prefs?.cameras ? [...prefs.cameras] : null,
    quiet: q !== null,
    start: q?.start ?? '22:00',
    end: q?.end ?? '07:00',
    timeZone: q?.time_zone ?? browserTimeZone(),
  };
}

export function preferencesFrom(f: PreferencesForm): PushPreferencesJson {
  return {
    labels: f.labels ? [...f.labels].sort() : null,
    cameras: f.cameras ? [...f.cameras].sort() : null,
    quiet_hours: f.quiet ? { start: f.start, end: f.end, time_zone: f.timeZone } : null,
  };
}

/** Is this box ticked? (null = every box.) */
export const isTicked = (list: readonly string[] | null, item: string): boolean => list === null || list.includes(item);

/** The list after ticking or unticking one of `offered`; null again once every offered box is ticked. */
export function toggled(
  list: readonly string[] | null,
  offered: readonly string[],
  item: string,
  on: boolean,
): string[] | null {
  const now = list ?? offered;
  const next = on ? [...new Set([...now, item])] : now.filter((x) => x !== item);
  return offered.every((o) => next.includes(o)) ? null : next;
}

/** One line for the registrations list, e.g. "person, dog · 2 cameras · quiet 22:00–07:00". */
export function preferencesSummary(p: PushPreferencesJson | null | undefined): string {
  if (!p) return 'all labels · all cameras';
  const parts = [
    p.labels === null ? 'all labels' : p.labels.length === 0 ? 'no label' : p.labels.join(', '),
    p.cameras === null ? 'all cameras' : `${p.cameras.length} camera${p.cameras.length === 1 ? '' : 's'}`,
  ];
  if (p.quiet_hours) parts.push(`quiet ${p.quiet_hours.start}–${p.quiet_hours.end}`);
  return parts.join(' · ');
}
