import type { EventJson } from '../api/types.js';
import { dayToIso } from '../format.js';

/**
 * The events list's filters: kept in the page URL (/events?camera=front&label=person…) so back/forward and a
 * shared link show the same list; turned into the API's query; and applied to live events so a new one appears
 * only in the lists it belongs to.
 */
export interface EventFilters {
  camera: string;
  label: string;
  zone: string;
  status: '' | 'active' | 'ended';
  verdict: string;
  /** Local days, YYYY-MM-DD (what <input type="date"> gives). */
  from: string;
  to: string;
}

export const FILTER_KEYS = ['camera', 'label', 'zone', 'status', 'verdict', 'from', 'to'] as const;

/** Filters the collector's GET /v1/events takes today; the others are hidden until it does (see capabilities). */
export type FilterKey = (typeof FILTER_KEYS)[number];

export const VERDICTS = ['verified', 'unverified', 'rejected', 'held', 'skipped', 'pending', 'failed'] as const;

/** The verdict filter's choices, as a person reads them. */
export const VERDICT_TEXT: Record<(typeof VERDICTS)[number], string> = {
  verified: 'Verified by the vision check',
  unverified: 'Unverified (check unavailable)',
  rejected: 'Rejected by the vision check',
  held: 'Held (check unavailable)',
  skipped: 'Not checked',
  pending: 'Check under way',
  failed: 'Check failed',
};

export function filtersFrom(search: URLSearchParams): EventFilters {
  const status = search.get('status');
  return {
    camera: search.get('camera') ?? '',
    label: search.get('label') ?? '',
    zone: search.get('zone') ?? '',
    status: status === 'active' || status === 'ended' ? status : '',
    verdict: search.get('verdict') ?? '',
    from: search.get('from') ?? '',
    to: search.get('to') ?? '',
  };
}

export function filtersSearch(f: EventFilters): string {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k]) q.set(k, f[k]);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function activeFilterCount(f: EventFilters): number {
  return FILTER_KEYS.filter((k) => f[k] !== '').length;
}

/** The query of GET /v1/events for these filters (page size and cursor added by the caller). */
export function apiQuery(f: EventFilters): Record<string, string | undefined> {
  return {
    camera: f.camera || undefined,
    label: f.label || undefined,
    zone: f.zone || undefined,
    status: f.status || undefined,
    verdict: f.verdict || undefined,
    since: f.from ? dayToIso(f.from) : undefined,
    until: f.to ? dayToIso(f.to, true) : undefined,
  };
}

/** Does a live event belong in the list these filters show? */
export function matches(f: EventFilters, e: EventJson): boolean {
  if (f.camera && e.camera !== f.camera) return false;
  if (f.label && e.label !== f.label) return false;
  if (f.zone && !(e.zones ?? []).includes(f.zone)) return false;
  if (f.status && e.status !== f.status) return false;
  if (f.verdict) {
    const v = e.verification?.status ?? 'pending';
    if (v !== f.verdict) return false;
  }
  const started = Date.parse(e.started_at);
  const since = f.from ? dayToIso(f.from) : undefined;
  const until = f.to ? dayToIso(f.to, true) : undefined;
  if (since && started < Date.parse(since)) return false;
  if (until && started >= Date.parse(until)) return false;
  return true;
}

/** Newest first, as the API pages them (start time, then id). */
export function newestFirst(a: EventJson, b: EventJson): number {
  const d = Date.parse(b.started_at) - Date.parse(a.started_at);
  return d !== 0 ? d : b.id < a.id ? -1 : b.id > a.id ? 1 : 0;
}

/** The list after a live event: replaced in place when present, inserted in order when it belongs. */
export function mergeLive(list: readonly EventJson[], e: EventJson, f: EventFilters): EventJson[] {
  const i = list.findIndex((x) => x.id === e.id);
  if (i !== -1) {
    const merged = { ...list[i]!, ...e };
    if (!matches(f, merged)) return list.filter((x) => x.id !== e.id);
    const next = [...list];
    next[i] = merged;
    return next;
  }
  if (!matches(f, e)) return [...list];
  return [...list, e].sort(newestFirst);
}
