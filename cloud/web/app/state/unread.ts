import { api } from '../api/http.js';
import type { EventJson, EventPage } from '../api/types.js';
import { createStore } from './store.js';

/**
 * Unread events, per browser: an event is unread when it was stored after the "seen up to" mark and has not been
 * opened here. The mark starts a day back for a new browser; "Mark all as seen" moves it to now. Kept in
 * localStorage (no secret in it: event ids and a time).
 */
const MARK_KEY = 'vigil.seen.mark';
const IDS_KEY = 'vigil.seen.ids';
const MAX_IDS = 500;

function load(): { mark: number; ids: string[] } {
  try {
    const mark = Number(localStorage.getItem(MARK_KEY));
    const ids = JSON.parse(localStorage.getItem(IDS_KEY) ?? '[]') as unknown;
    return {
      mark: Number.isFinite(mark) && mark > 0 ? mark : Date.now() - 86_400_000,
      ids: Array.isArray(ids) ? ids.filter((i): i is string => typeof i === 'string') : [],
    };
  } catch {
    return { mark: Date.now() - 86_400_000, ids: [] };
  }
}

const saved = load();
let mark = saved.mark;
const seenIds = new Set(saved.ids);

/** Ids of the unread events the app knows of (loaded lists and live arrivals). */
export const unread = createStore<ReadonlySet<string>>(new Set());

function persist(): void {
  try {
    localStorage.setItem(MARK_KEY, String(mark));
    localStorage.setItem(IDS_KEY, JSON.stringify([...seenIds].slice(-MAX_IDS)));
  } catch {
    // Private mode or full storage: unread marks last for this tab only.
  }
}

export function isUnread(e: Pick<EventJson, 'id' | 'created_at'>): boolean {
  return Date.parse(e.created_at) > mark && !seenIds.has(e.id);
}

export function noteEvents(events: readonly EventJson[]): void {
  const add = events.filter((e) => isUnread(e) && !unread.get().has(e.id));
  if (add.length) unread.set((s) => new Set([...s, ...add.map((e) => e.id)]));
}

export function markSeen(id: string): void {
  seenIds.add(id);
  persist();
  if (unread.get().has(id))
    unread.set((s) => {
      const next = new Set(s);
      next.delete(id);
      return next;
    });
}

export function markAllSeen(): void {
  mark = Date.now();
  seenIds.clear();
  persist();
  unread.set(new Set());
}

/** At sign-in: the events stored since the mark (up to 200), so the badge counts before any list was opened. */
export async function loadUnread(): Promise<void> {
  try {
    const since = new Date(mark).toISOString();
    noteEvents((await api.get<EventPage>(`/v1/events?since=${encodeURIComponent(since)}&limit=200`)).events);
  } catch {
    // The badge fills in as lists load.
  }
}
