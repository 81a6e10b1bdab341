import { api } from '../api/http.js';
import type { DeviceJson, EventJson, ReviewJson } from '../api/types.js';
import { createStore } from './store.js';

/**
 * The live feed: one EventSource on /v1/stream (the session cookie goes with it). While the browser reconnects by
 * itself it sends Last-Event-ID and the collector replays what was missed; when the stream had to be opened anew (an
 * HTTP error closed it) or the collector says `stream.reset`, listeners get `resync` and reload what they show.
 */
export type LiveStatus = 'off' | 'connecting' | 'live' | 'reconnecting';

export type LiveMessage =
  | { type: 'event.new' | 'event.updated'; event: EventJson }
  | { type: 'review.new' | 'review.updated'; review: ReviewJson }
  | { type: 'device.status'; device: DeviceJson }
  | { type: 'resync' }
  /** The collector ended the stream because the session ended (stream.closed): back to the login. */
  | { type: 'closed'; code: string; message: string };

export const STREAM_PATH = '/v1/stream';
const KINDS = [
  'event.new',
  'event.updated',
  'review.new',
  'review.updated',
  'device.status',
  'stream.reset',
  'stream.closed',
] as const;

export const liveStatus = createStore<LiveStatus>('off');
const listeners = new Set<(m: LiveMessage) => void>();
let source: EventSource | null = null;
let retry: ReturnType<typeof setTimeout> | undefined;
let failures = 0;

export function onLive(fn: (m: LiveMessage) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(m: LiveMessage): void {
  for (const fn of [...listeners]) fn(m);
}

function open(resync: boolean): void {
  const es = new EventSource(STREAM_PATH);
  source = es;
  liveStatus.set(resync ? 'reconnecting' : 'connecting');
  es.onopen = () => {
    failures = 0;
    liveStatus.set('live');
    if (resync) emit({ type: 'resync' });
  };
  for (const kind of KINDS) {
    es.addEventListener(kind, (e: MessageEvent<string>) => {
      let data: unknown;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      // stream.reset: the collector could not replay what was missed (too old): reload the lists.
      if (kind === 'stream.reset') emit({ type: 'resync' });
      else if (kind === 'stream.closed') {
        const d = data as { code?: unknown; message?: unknown };
        emit({
          type: 'closed',
          code: typeof d.code === 'string' ? d.code : 'session_expired',
          message: typeof d.message === 'string' ? d.message : '',
        });
      } else if (kind === 'device.status') emit({ type: kind, device: data as DeviceJson });
      else if (kind === 'review.new' || kind === 'review.updated') emit({ type: kind, review: data as ReviewJson });
      else emit({ type: kind, event: data as EventJson });
    });
  }
  es.onerror = () => {
    if (source !== es) return;
    if (es.readyState === EventSource.CONNECTING) {
      liveStatus.set('reconnecting');
      return;
    }
    // Closed for good (an HTTP error such as 401 or 429): ask why through a plain call — a 401 there ends the
    // session (api/http.ts hooks), no answer marks the collector unreachable — and open a new stream later.
    es.close();
    source = null;
    liveStatus.set('reconnecting');
    failures++;
    void api
      .get('/v1/session')
      .catch(() => undefined)
      .finally(() => {
        if (liveStatus.get() === 'off') return;
        retry = setTimeout(() => open(true), Math.min(30_000, 1000 * 2 ** Math.min(failures, 5)));
      });
  };
}

export function startLive(): void {
  if (source || liveStatus.get() !== 'off') return;
  failures = 0;
  open(false);
}

export function stopLive(): void {
  clearTimeout(retry);
  source?.close();
  source = null;
  liveStatus.set('off');
}
