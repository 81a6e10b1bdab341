import type { ReviewJson } from '../api/types.js';
import { dayToIso } from '../format.js';

/**
 * The Review screen's filters, in the URL like the events': severity (the tab), camera, label, zone, reviewed, days.
 * Unreviewed items are shown by default (what is left to look at), as Frigate does.
 */
export type Severity = 'alert' | 'detection';

export interface ReviewFilters {
  severity: Severity;
  camera: string;
  label: string;
  zone: string;
  /** 'false' (default): not reviewed yet; 'true': reviewed; '': both. */
  reviewed: '' | 'true' | 'false';
  from: string;
  to: string;
}

const KEYS = ['camera', 'label', 'zone', 'from', 'to'] as const;

export function reviewFiltersFrom(search: URLSearchParams): ReviewFilters {
  const r = search.get('reviewed');
  return {
    severity: search.get('severity') === 'detection' ? 'detection' : 'alert',
    camera: search.get('camera') ?? '',
    label: search.get('label') ?? '',
    zone: search.get('zone') ?? '',
    reviewed: r === 'true' || r === 'all' ? (r === 'all' ? '' : 'true') : 'false',
    from: search.get('from') ?? '',
    to: search.get('to') ?? '',
  };
}

export function reviewSearch(f: ReviewFilters): string {
  const q = new URLSearchParams();
  if (f.severity !== 'alert') q.set('severity', f.severity);
  for (const k of KEYS) if (f[k]) q.set(k, f[k]);
  if (f.reviewed !== 'false') q.set('reviewed', f.reviewed === '' ? 'all' : 'true');
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function reviewApiQuery(f: ReviewFilters): Record<string, string | undefined> {
  return {
    severity: f.severity,
    camera: f.camera || undefined,
    label: f.label || undefined,
    zone: f.zone || undefined,
    reviewed: f.reviewed || undefined,
    since: f.from ? dayToIso(f.from) : undefined,
    until: f.to ? dayToIso(f.to, true) : undefined,
  };
}

export function reviewMatches(f: ReviewFilters, r: ReviewJson): boolean {
  if (r.severity !== f.severity) return false;
  if (f.camera && r.camera !== f.camera) return false;
  if (f.label && !r.labels.includes(f.label)) return false;
  if (f.zone && !r.zones.includes(f.zone)) return false;
  if (f.reviewed && String(r.reviewed) !== f.reviewed) return false;
  const started = Date.parse(r.started_at);
  if (f.from && started < Date.parse(dayToIso(f.from)!)) return false;
  if (f.to && started >= Date.parse(dayToIso(f.to, true)!)) return false;
  return true;
}

/** The list after a live item: replaced in place, dropped when it no longer belongs, inserted newest first. */
export function mergeReview(list: readonly ReviewJson[], r: ReviewJson, f: ReviewFilters): ReviewJson[] {
  const rest = list.filter((x) => x.id !== r.id);
  if (!reviewMatches(f, r)) return rest;
  return [...rest, r].sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at) || (b.id < a.id ? -1 : 1));
}

/** The picture of an item in a list: its best object's thumbnail (the route answers 404 when there is none). */
export function reviewThumbnail(r: ReviewJson): string | null {
  const id = r.thumbnail_event ?? r.objects[0];
  return id ? `/v1/events/${encodeURIComponent(id)}/thumbnail` : null;
}
