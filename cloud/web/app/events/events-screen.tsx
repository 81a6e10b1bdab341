import type { JSX } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, query } from '../api/http.js';
import type { EventJson, EventPage } from '../api/types.js';
import { ErrorNotice } from '../components/error-notice.js';
import { Layout } from '../components/layout.js';
import { navigate, useRoute } from '../router.js';
import { onReconnect } from '../state/connectivity.js';
import { cameraNames, deviceName, devices } from '../state/devices.js';
import { onLive } from '../state/live.js';
import { useStore } from '../state/store.js';
import { isUnread, markAllSeen, noteEvents, unread } from '../state/unread.js';
import { EventCard } from './event-card.js';
import { DEFAULT_LABELS, FilterBar } from './filter-bar.js';
import {
  apiQuery,
  type EventFilters,
  type FilterKey,
  filtersFrom,
  filtersSearch,
  matches,
  mergeLive,
} from './filters.js';

/**
 * Events, newest first: live (new ones appear at the top without a reload), paged over the cursor API as the list
 * scrolls (and by a button, for keyboards), filtered by what the URL says, unread ones marked.
 */
const PAGE = 30;

/** Filters GET /v1/events applies on this collector. */
export const SUPPORTED_FILTERS: ReadonlySet<FilterKey> = new Set<FilterKey>([
  'camera',
  'label',
  'zone',
  'status',
  'verdict',
  'from',
  'to',
]);

interface ListState {
  events: EventJson[];
  cursor: string | null;
  loading: boolean;
  error: unknown;
  /** Requested at least once (to tell "no events" from "not loaded yet"). */
  loaded: boolean;
}

const empty: ListState = { events: [], cursor: null, loading: true, error: null, loaded: false };

export function EventsScreen(): JSX.Element {
  const route = useRoute();
  const filters = useMemo(() => filtersFrom(route.search), [route.location.search]);
  const key = filtersSearch(filters);
  const [state, setState] = useState<ListState>(empty);
  const [announce, setAnnounce] = useState('');
  const dev = useStore(devices);
  const unreadIds = useStore(unread);
  const generation = useRef(0);
  const sentinel = useRef<HTMLDivElement>(null);

  const loadPage = useCallback(
    async (cursor: string | null) => {
      const gen = generation.current;
      setState((s) => ({ ...s, loading: true, error: null }));
      try {
        const page = await api.get<EventPage>(
          `/v1/events${query({ ...apiQuery(filters), limit: PAGE, cursor: cursor ?? undefined })}`,
        );
        if (gen !== generation.current) return;
        noteEvents(page.events);
        setState((s) => {
          const base = cursor ? s.events : [];
          const have = new Set(base.map((e) => e.id));
          return {
            events: [...base, ...page.events.filter((e) => !have.has(e.id))],
            cursor: page.next_cursor,
            loading: false,
            error: null,
            loaded: true,
          };
        });
      } catch (error) {
        if (gen === generation.current) setState((s) => ({ ...s, loading: false, error, loaded: true }));
      }
    },
    [key],
  );

  const reload = useCallback(() => {
    generation.current++;
    setState(empty);
    void loadPage(null);
  }, [loadPage]);

  useEffect(reload, [reload]);
  useEffect(() => onReconnect(reload), [reload]);
  useEffect(
    () =>
      onLive((m) => {
        if (m.type === 'resync') return reload();
        if (m.type !== 'event.new' && m.type !== 'event.updated') return;
        noteEvents([m.event]);
        setState((s) => ({ ...s, events: mergeLive(s.events, m.event, filters) }));
        if (m.type === 'event.new' && matches(filters, m.event))
          setAnnounce(`New event: ${m.event.label} on ${m.event.camera}`);
      }),
    [reload, filters],
  );

  // Next page when the end of the list scrolls into view.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !state.cursor || state.loading || state.error) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadPage(state.cursor);
    });
    io.observe(el);
    return () => io.disconnect();
  }, [state.cursor, state.loading, state.error, loadPage]);

  const cameras = useMemo(() => {
    const set = new Set(cameraNames(dev.devices));
    for (const e of state.events) set.add(e.camera);
    return [...set].sort();
  }, [dev.devices, state.events]);
  const labels = useMemo(
    () => [...new Set([...DEFAULT_LABELS, ...state.events.map((e) => e.label)])].sort(),
    [state.events],
  );
  const zones = useMemo(() => [...new Set(state.events.flatMap((e) => e.zones ?? []))].sort(), [state.events]);
  const unreadHere = state.events.filter((e) => unreadIds.has(e.id) && isUnread(e)).length;

  const setFilters = (f: EventFilters): void => navigate(`/events${filtersSearch(f)}`, { replace: true });

  return (
    <Layout title="Events">
      <div class="toolbar">
        <p class="toolbar-count" aria-live="polite">
          {unreadHere > 0 ? `${unreadHere} unread` : state.loaded ? 'All caught up' : ''}
        </p>
        {unreadIds.size > 0 && (
          <button type="button" class="button button-small" onClick={markAllSeen}>
            Mark all as seen
          </button>
        )}
      </div>
      <FilterBar
        filters={filters}
        cameras={cameras}
        labels={labels}
        zones={zones}
        supported={SUPPORTED_FILTERS}
        onChange={setFilters}
      />
      <p class="visually-hidden" role="status" aria-live="polite">
        {announce}
      </p>
      {state.loaded && state.events.length === 0 && !state.error && (
        <p class="empty">
          {key ? 'No events match these filters.' : 'No events yet. They appear here the moment a box sends one.'}
        </p>
      )}
      <ul class="cards" aria-label="Events" aria-busy={state.loading}>
        {state.events.map((e) => (
          <EventCard key={e.id} event={e} device={deviceName(dev.devices, e.device_id)} unread={unreadIds.has(e.id)} />
        ))}
      </ul>
      <ErrorNotice error={state.error} onRetry={() => void loadPage(state.cursor)} />
      <div ref={sentinel} class="list-end">
        {state.loading && <p class="muted">Loading events…</p>}
        {!state.loading && state.cursor && !state.error && (
          <button type="button" class="button" onClick={() => void loadPage(state.cursor)}>
            Load older events
          </button>
        )}
        {!state.loading && !state.cursor && state.events.length > 0 && <p class="muted">That is all.</p>}
      </div>
    </Layout>
  );
}
