import type { JSX } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, query } from '../api/http.js';
import type { ReviewJson, ReviewPage } from '../api/types.js';
import { ErrorNotice } from '../components/error-notice.js';
import { Layout } from '../components/layout.js';
import { DEFAULT_LABELS, Select } from '../events/filter-bar.js';
import { humanName } from '../format.js';
import { Link, navigate, useRoute } from '../router.js';
import { onReconnect } from '../state/connectivity.js';
import { cameraNames, deviceName, devices } from '../state/devices.js';
import { onLive } from '../state/live.js';
import { countText, loadReviewCounts, recountSoon, reviewCounts } from '../state/review-counts.js';
import { useStore } from '../state/store.js';
import { ReviewCard } from './review-card.js';
import {
  mergeReview,
  type ReviewFilters,
  reviewApiQuery,
  reviewFiltersFrom,
  reviewSearch,
  type Severity,
} from './review-filters.js';

/**
 * Review: what happened, grouped by the box into alert and detection items (tabs with their unreviewed counts),
 * newest first, unreviewed by default; live, paged over the cursor API, filtered by the URL; mark one or all seen
 * items reviewed (kept by the collector: the other phones see it too).
 */
const PAGE = 30;

export async function setReviewed(r: ReviewJson, reviewed: boolean): Promise<ReviewJson> {
  const path = `/v1/reviews/${encodeURIComponent(r.id)}/reviewed`;
  const next = reviewed ? await api.post<ReviewJson>(path) : await api.del<ReviewJson>(path);
  recountSoon();
  return next;
}

export function ReviewScreen(): JSX.Element {
  const route = useRoute();
  const filters = useMemo(() => reviewFiltersFrom(route.search), [route.location.search]);
  const key = reviewSearch(filters);
  const [items, setItems] = useState<ReviewJson[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const counts = useStore(reviewCounts);
  const dev = useStore(devices);
  const generation = useRef(0);
  const sentinel = useRef<HTMLDivElement>(null);

  const loadPage = useCallback(
    async (after: string | null) => {
      const gen = generation.current;
      setLoading(true);
      setError(null);
      try {
        const page = await api.get<ReviewPage>(
          `/v1/reviews${query({ ...reviewApiQuery(filters), limit: PAGE, cursor: after ?? undefined })}`,
        );
        if (gen !== generation.current) return;
        setItems((list) => {
          const base = after ? list : [];
          const have = new Set(base.map((r) => r.id));
          return [...base, ...page.reviews.filter((r) => !have.has(r.id))];
        });
        setCursor(page.next_cursor);
      } catch (err) {
        if (gen === generation.current) setError(err);
      } finally {
        if (gen === generation.current) {
          setLoading(false);
          setLoaded(true);
        }
      }
    },
    [key],
  );
  const reload = useCallback(() => {
    generation.current++;
    setItems([]);
    setCursor(null);
    setLoaded(false);
    void loadPage(null);
    void loadReviewCounts();
  }, [loadPage]);
  useEffect(reload, [reload]);
  useEffect(() => onReconnect(reload), [reload]);
  useEffect(
    () =>
      onLive((m) => {
        if (m.type === 'resync') reload();
        else if (m.type === 'review.new' || m.type === 'review.updated')
          setItems((list) => mergeReview(list, m.review, filters));
      }),
    [reload, filters],
  );
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !cursor || loading || error) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadPage(cursor);
    });
    io.observe(el);
    return () => io.disconnect();
  }, [cursor, loading, error, loadPage]);

  const mark = async (r: ReviewJson, reviewed: boolean): Promise<void> => {
    try {
      const next = await setReviewed(r, reviewed);
      setItems((list) => mergeReview(list, next, filters));
    } catch (err) {
      setError(err);
    }
  };
  const markAll = async (): Promise<void> => {
    for (const r of items.filter((x) => !x.reviewed)) await mark(r, true);
  };
  const go = (f: ReviewFilters): void => navigate(`/review${reviewSearch(f)}`, { replace: true });
  const tab = (s: Severity, label: string, n: number | null, more: boolean) => (
    <Link
      href={`/review${reviewSearch({ ...filters, severity: s })}`}
      class="tab"
      aria-current={filters.severity === s ? 'page' : undefined}
    >
      {label}{' '}
      {n !== null && (
        <>
          <span class="tab-count">{countText(n, more)}</span>
          <span class="visually-hidden"> unreviewed</span>
        </>
      )}
    </Link>
  );
  const cameras = useMemo(
    () => [...new Set([...cameraNames(dev.devices), ...items.map((r) => r.camera)])].sort(),
    [dev.devices, items],
  );
  const labels = useMemo(() => [...new Set([...DEFAULT_LABELS, ...items.flatMap((r) => r.labels)])].sort(), [items]);
  const zones = useMemo(() => [...new Set(items.flatMap((r) => r.zones))].sort(), [items]);
  const unreviewedHere = items.filter((r) => !r.reviewed).length;

  return (
    <Layout title="Review">
      <nav class="tabs" aria-label="Severity">
        {tab('alert', 'Alerts', counts.alert, counts.alertMore)}
        {tab('detection', 'Detections', counts.detection, counts.detectionMore)}
      </nav>
      <form
        class="filter-form filter-form-review"
        aria-label="Filter review items"
        onSubmit={(e) => e.preventDefault()}
      >
        <Select
          label="Camera"
          name="camera"
          value={filters.camera}
          any="All cameras"
          options={cameras.map((c) => [c, humanName(c)])}
          onChange={(v) => go({ ...filters, camera: v })}
        />
        <Select
          label="Label"
          name="label"
          value={filters.label}
          any="All labels"
          options={labels.map((l) => [l, humanName(l)])}
          onChange={(v) => go({ ...filters, label: v })}
        />
        <Select
          label="Zone"
          name="zone"
          value={filters.zone}
          any="All zones"
          options={(filters.zone && !zones.includes(filters.zone) ? [...zones, filters.zone] : zones).map((z) => [
            z,
            humanName(z),
          ])}
          onChange={(v) => go({ ...filters, zone: v })}
        />
        <div class="field">
          <label for="filter-reviewed">Reviewed</label>
          <select
            id="filter-reviewed"
            value={filters.reviewed}
            onChange={(e) => go({ ...filters, reviewed: e.currentTarget.value as ReviewFilters['reviewed'] })}
          >
            <option value="false">Not reviewed</option>
            <option value="true">Reviewed</option>
            <option value="">All</option>
          </select>
        </div>
      </form>
      <div class="toolbar">
        <p class="toolbar-count" aria-live="polite">
          {loaded && (unreviewedHere > 0 ? `${unreviewedHere} to review here` : 'Nothing left to review here')}
        </p>
        {unreviewedHere > 0 && (
          <button type="button" class="button button-small" onClick={() => void markAll()}>
            Mark these reviewed
          </button>
        )}
      </div>
      {loaded && items.length === 0 && !error && (
        <p class="empty">
          {filters.reviewed === 'false'
            ? `No ${filters.severity === 'alert' ? 'alerts' : 'detections'} to review.`
            : 'No review items match these filters.'}{' '}
          Boxes with an agent from before review items send events only: <Link href="/events">see all events</Link>.
        </p>
      )}
      <ul class="cards" aria-label={filters.severity === 'alert' ? 'Alerts' : 'Detections'} aria-busy={loading}>
        {items.map((r) => (
          <ReviewCard
            key={r.id}
            review={r}
            device={deviceName(dev.devices, r.device_id)}
            onReviewed={(x, v) => void mark(x, v)}
          />
        ))}
      </ul>
      <ErrorNotice error={error} onRetry={() => void loadPage(cursor)} />
      <div ref={sentinel} class="list-end">
        {loading && <p class="muted">Loading…</p>}
        {!loading && cursor && !error && (
          <button type="button" class="button" onClick={() => void loadPage(cursor)}>
            Load older items
          </button>
        )}
      </div>
    </Layout>
  );
}
