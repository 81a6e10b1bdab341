import { ApiError, api } from '../api/http.js';
import type { ReviewPage } from '../api/types.js';
import { onLive } from './live.js';
import { createStore } from './store.js';

/**
 * Unreviewed review items per severity (the Review tabs and the navigation badge). Reviewed is kept by the
 * collector, so a mark made on the phone clears the count on the desktop too. Counted by the collector
 * (GET /v1/reviews/counts, one query), again when the live feed reports an item or a mark changes; a collector
 * without that route is asked for the unreviewed items instead (up to 200 each; "200+" past that).
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

interface CountsJson {
  alert: { unreviewed: number };
  detection: { unreviewed: number };
}

let countsRoute = true;

export async function loadReviewCounts(): Promise<void> {
  try {
    if (countsRoute) {
      try {
        const c = await api.get<CountsJson>('/v1/reviews/counts');
        const [alert, detection] = [c.alert.unreviewed, c.detection.unreviewed];
        reviewCounts.set({ alert, detection, alertMore: false, detectionMore: false });
        return;
      } catch (err) {
        // 404, or 400 where the route reads "counts" as an item id: an older collector.
        if (!(err instanceof ApiError && (err.status === 404 || err.status === 400))) throw err;
        countsRoute = false;
      }
    }
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
