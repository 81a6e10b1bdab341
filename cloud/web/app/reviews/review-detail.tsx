import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api/http.js';
import type { ReviewDetailJson } from '../api/types.js';
import { ErrorNotice } from '../components/error-notice.js';
import { Layout } from '../components/layout.js';
import { formatDateTime, formatDuration, formatPercent, humanName } from '../format.js';
import { Link } from '../router.js';
import { onReconnect } from '../state/connectivity.js';
import { deviceName, devices } from '../state/devices.js';
import { onLive } from '../state/live.js';
import { useStore } from '../state/store.js';
import { setReviewed } from './review-screen.js';

/**
 * One review item: its best picture, when and where, every object (each opens its event), the push sent for it and
 * its outcomes, and the reviewed mark. Another tenant's item is "not found".
 */
export function ReviewDetailScreen({ id }: { id: string }): JSX.Element {
  const [item, setItem] = useState<ReviewDetailJson | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const dev = useStore(devices);
  const load = useCallback(async () => {
    try {
      setItem(await api.get<ReviewDetailJson>(`/v1/reviews/${encodeURIComponent(id)}`));
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, [id]);
  useEffect(() => {
    setItem(null);
    void load();
  }, [load]);
  useEffect(() => onReconnect(() => void load()), [load]);
  useEffect(
    () =>
      onLive((m) => {
        if (m.type === 'resync' || ((m.type === 'review.updated' || m.type === 'review.new') && m.review.id === id))
          void load();
      }),
    [id, load],
  );
  const toggle = async (): Promise<void> => {
    if (!item) return;
    setBusy(true);
    try {
      const next = await setReviewed(item, !item.reviewed);
      setItem({ ...item, ...next });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const notFound = error instanceof ApiError && error.status === 404;
  const what = item ? item.labels.map(humanName).join(', ') : '';
  const title = item ? `${what} on ${humanName(item.camera)}` : notFound ? 'Review item not found' : 'Review item';
  const n = item?.notification;
  return (
    <Layout title={title}>
      <p>
        <Link href="/review" class="back">
          ← Review
        </Link>
      </p>
      {notFound ? (
        <div class="notice notice-error" role="alert">
          <p>
            Review item <code>{id}</code> was not found. It may have been removed, or it belongs to another account.
          </p>
          <p class="notice-meta">Request id: {(error as ApiError).requestId ?? '—'}</p>
        </div>
      ) : (
        <ErrorNotice error={error} onRetry={() => void load()} />
      )}
      {!item && !error && <p class="muted">Loading…</p>}
      {item && (
        <div class="detail">
          <section class="detail-picture" aria-label="Picture">
            {item.thumbnail ? (
              <img class="review-picture" src={item.thumbnail.url} alt={`${what} on ${humanName(item.camera)}`} />
            ) : (
              <p class="muted">No picture yet.</p>
            )}
          </section>
          <section class="detail-facts" aria-labelledby="facts-h">
            <h2 id="facts-h">What happened</h2>
            <dl class="facts">
              <div class="fact">
                <dt>Severity</dt>
                <dd>
                  <span class={`chip chip-${item.severity}`}>{item.severity}</span>
                </dd>
              </div>
              <div class="fact">
                <dt>Camera</dt>
                <dd>
                  {humanName(item.camera)} ({deviceName(dev.devices, item.device_id)})
                </dd>
              </div>
              <div class="fact">
                <dt>Started</dt>
                <dd>{formatDateTime(item.started_at)}</dd>
              </div>
              <div class="fact">
                <dt>Duration</dt>
                <dd>{item.status === 'active' ? 'ongoing' : formatDuration(item.duration_s)}</dd>
              </div>
              {item.zones.length > 0 && (
                <div class="fact">
                  <dt>Zones</dt>
                  <dd>{item.zones.map(humanName).join(', ')}</dd>
                </div>
              )}
              <div class="fact">
                <dt>Reviewed</dt>
                <dd>{item.reviewed ? formatDateTime(item.reviewed_at) : 'not yet'}</dd>
              </div>
            </dl>
            <div class="actions">
              <button type="button" class="button button-primary" disabled={busy} onClick={() => void toggle()}>
                {item.reviewed ? 'Mark not reviewed' : 'Mark reviewed'}
              </button>
            </div>
          </section>
          <section aria-labelledby="objects-h">
            <h2 id="objects-h">Objects ({item.events.length})</h2>
            <ul class="objects">
              {item.events.map((e) => (
                <li key={e.id}>
                  <Link href={`/events/${encodeURIComponent(e.id)}`}>
                    {humanName(e.label)} {formatPercent(e.top_score ?? e.score)}
                  </Link>
                  <span class="muted">
                    {' '}
                    · {formatDateTime(e.started_at)}
                    {e.zones.length > 0 ? ` · ${e.zones.map(humanName).join(', ')}` : ''}
                    {e.status === 'active' ? ' · ongoing' : ''}
                  </span>
                </li>
              ))}
            </ul>
          </section>
          <section aria-labelledby="push-h">
            <h2 id="push-h">Notification</h2>
            {!n || n.push_count === 0 ? (
              <p class="muted">
                No push was sent for this item
                {n?.decision_detail ? ` (${n.decision_detail})` : n?.push_state ? ` (${n.push_state})` : ''}.
              </p>
            ) : (
              <>
                <p>
                  “{n.push_title}” {n.push_body ? `— ${n.push_body}` : ''} ({n.push_count} push
                  {n.push_count === 1 ? '' : 'es'}, last {formatDateTime(n.last_push_at)})
                </p>
                <ul class="deliveries">
                  {n.push_deliveries.map((d) => (
                    <li key={d.target_id}>
                      <span class={`chip chip-${d.status}`}>{d.status}</span> {d.platform}
                      {d.reason ? ` · ${d.reason}` : ''}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </section>
        </div>
      )}
    </Layout>
  );
}
