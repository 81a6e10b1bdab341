import { api } from '../api/http.js';
import type { ReviewPage } from '../api/types.js';
import { onLive } from './live.js';
import { createStore } from './store.js';

/**
 * Unreviewed review items per severity (the Review tabs and the navigation badge). Reviewed is kept by the
 * collector, so a mark made on the phone clears the count on the desktop too. Counted by listing unreviewed items
 * (up to 200 each; "200+" past that), again when the live feed reports an item or a mark changes.
 */
export const COUNT_CAP = 200;

export interface ReviewCounts {
  alert: number | null;
  detection: number | null;
  /** More than COUNT_CAP. */
  alertMore: boolean;
  detectionMore: boolean;
}

export const reviewCounts = createStore<ReviewCounts>({
  alert: null,
  detection: null,
  alertMore: false,
  detectionMore: false,
});

async function count(severity: 'alert' | 'detection'): Promise<[number, boolean]> {
  const page = await api.get<ReviewPage>(`/v1/reviews?severity=${severity}&reviewed=false&limit=${COUNT_CAP}`);
  return [page.reviews.length, page.next_cursor !== null];
}

export async function loadReviewCounts(): Promise<void> {
  try {
    const [[alert, alertMore], [detection, detectionMore]] = await Promise.all([count('alert'), count('detection')]);
    reviewCounts.set({ alert, detection, alertMore, detectionMore });
  } catch {
    // The screens show errors; a badge that could not be counted keeps its last value.
  }
}

let timer: ReturnType<typeof setTimeout> | undefined;
/** Counts again shortly (several live messages in a burst count once). */
export function recountSoon(): void {
  clearTimeout(timer);
  timer = setTimeout(() => void loadReviewCounts(), 300);
}

onLive((m) => {
  if (m.type === 'review.new' || m.type === 'review.updated' || m.type === 'resync') recountSoon();
});

export function countText(n: number | null, more: boolean): string {
  return n === null ? '' : more ? `${n}+` : String(n);
}
