import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api/http.js';
import type { EventDetailJson, EventMessageJson, PushDeliveryJson, VerificationJson } from '../api/types.js';
import { ErrorNotice } from '../components/error-notice.js';
import { Layout } from '../components/layout.js';
import { EventPicture } from '../components/thumb.js';
import { formatDateTime, formatDuration, formatPercent, humanName } from '../format.js';
import { Link } from '../router.js';
import { onReconnect } from '../state/connectivity.js';
import { deviceName, devices } from '../state/devices.js';
import { onLive } from '../state/live.js';
import { useStore } from '../state/store.js';
import { markSeen } from '../state/unread.js';
import { Timeline } from './timeline.js';

/**
 * One event: the picture with the box, what the box said, what the vision check said (provider, label, confidence,
 * summary), the pushes sent and their outcomes, and its timeline (the box's messages, the check, the push).
 * Another tenant's event is "not found", as the API says. Opening it marks it seen.
 */
function Fact({ term, children }: { term: string; children: JSX.Element | string | number | null }) {
  return (
    <div class="fact">
      <dt>{term}</dt>
      <dd>{children ?? '—'}</dd>
    </div>
  );
}

function Verification({ v }: { v: VerificationJson | null }): JSX.Element {
  if (!v) return <p class="muted">This event was not sent to the vision check (no notify rule for it).</p>;
  return (
    <dl class="facts">
      <Fact term="Verdict">
        <span class={`chip chip-${v.status}`}>{v.status}</span>
      </Fact>
      {v.classify_summary && <Fact term="Summary">{v.classify_summary}</Fact>}
      <Fact term="Sees">{v.classify_label ? humanName(v.classify_label) : null}</Fact>
      <Fact term="Confidence">{formatPercent(v.classify_confidence)}</Fact>
      {v.classify_threat !== null && <Fact term="Threat">{`${v.classify_threat} / 3`}</Fact>}
      <Fact term="Agrees with the box">{v.agrees_with_edge === null ? null : v.agrees_with_edge ? 'yes' : 'no'}</Fact>
      <Fact term="Checked by">{v.provider ? `${v.provider}${v.model ? ` (${v.model})` : ''}` : null}</Fact>
      <Fact term="Checked at">{v.classified_at ? formatDateTime(v.classified_at) : null}</Fact>
      {v.decision && <Fact term="Decision">{`${v.decision}${v.decision_detail ? `: ${v.decision_detail}` : ''}`}</Fact>}
      {v.last_error && <Fact term="Last error">{v.last_error}</Fact>}
    </dl>
  );
}

function Deliveries({ e }: { e: EventDetailJson }): JSX.Element {
  const list: PushDeliveryJson[] = e.push_deliveries ?? [];
  if (list.length === 0)
    return <p class="muted">{e.push_state ? `No push sent (${e.push_state}).` : 'No push was sent for this event.'}</p>;
  return (
    <>
      {e.push_title && (
        <p>
          “{e.push_title}”{e.push_at ? `, ${formatDateTime(e.push_at)}` : ''}
        </p>
      )}
      <ul class="deliveries">
        {list.map((d) => (
          <li key={d.target_id}>
            <span class={`chip chip-${d.status}`}>{d.status}</span> {d.platform} · {d.attempts} attempt
            {d.attempts === 1 ? '' : 's'}
            {d.http_status !== null ? ` · HTTP ${d.http_status}` : ''}
            {d.reason ? ` · ${d.reason}` : ''}
            {d.at ? ` · ${formatDateTime(d.at)}` : ''}
          </li>
        ))}
      </ul>
    </>
  );
}

export function EventDetailScreen({ id }: { id: string }): JSX.Element {
  const [event, setEvent] = useState<EventDetailJson | null>(null);
  const [messages, setMessages] = useState<EventMessageJson[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [aspect, setAspect] = useState<number | null>(null);
  const dev = useStore(devices);
  const load = useCallback(async () => {
    try {
      const path = `/v1/events/${encodeURIComponent(id)}`;
      const [e, m] = await Promise.all([
        api.get<EventDetailJson>(path),
        // The timeline falls back to the event's own times when the messages cannot be had.
        api.get<{ messages: EventMessageJson[] }>(`${path}/messages`).catch(() => null),
      ]);
      setEvent(e);
      setMessages(m?.messages ?? null);
      setError(null);
      markSeen(id);
    } catch (err) {
      setError(err);
    }
  }, [id]);
  useEffect(() => {
    setEvent(null);
    setMessages(null);
    setError(null);
    void load();
  }, [load]);
  useEffect(() => onReconnect(() => void load()), [load]);
  useEffect(
    () =>
      onLive((m) => {
        if (m.type === 'resync' || ((m.type === 'event.updated' || m.type === 'event.new') && m.event.id === id))
          void load();
      }),
    [id, load],
  );

  const notFound = error instanceof ApiError && error.status === 404;
  const title = event
    ? `${humanName(event.label)} on ${humanName(event.camera)}`
    : notFound
      ? 'Event not found'
      : 'Event';
  return (
    <Layout title={title}>
      <p>
        <Link href="/events" class="back">
          ← All events
        </Link>
      </p>
      {notFound ? (
        <div class="notice notice-error" role="alert">
          <p>
            Event <code>{id}</code> was not found. It may have been removed, or it belongs to another account.
          </p>
          <p class="notice-meta">Request id: {(error as ApiError).requestId ?? '—'}</p>
        </div>
      ) : (
        <ErrorNotice error={error} onRetry={() => void load()} />
      )}
      {!event && !error && <p class="muted">Loading…</p>}
      {event && (
        <div class="detail">
          <section class="detail-picture" aria-label="Picture">
            <EventPicture event={event} aspect={aspect} onLoad={setAspect} />
          </section>
          <section class="detail-facts" aria-labelledby="facts-h">
            <h2 id="facts-h">What the box saw</h2>
            <dl class="facts">
              <Fact term="Label">{humanName(event.label)}</Fact>
              <Fact term="Score">
                {event.top_score !== null && event.top_score > event.score
                  ? `${formatPercent(event.score)} (best ${formatPercent(event.top_score)})`
                  : formatPercent(event.score)}
              </Fact>
              <Fact term="Camera">{humanName(event.camera)}</Fact>
              <Fact term="Box">{deviceName(dev.devices, event.device_id)}</Fact>
              <Fact term="Started">{formatDateTime(event.started_at)}</Fact>
              <Fact term="Duration">{event.status === 'active' ? 'ongoing' : formatDuration(event.duration_s)}</Fact>
              {event.end_reason && <Fact term="Ended because">{event.end_reason.replace(/_/g, ' ')}</Fact>}
              {event.zones?.length > 0 && <Fact term="Zones">{event.zones.map(humanName).join(', ')}</Fact>}
              {event.stationary && <Fact term="Stationary">yes</Fact>}
            </dl>
          </section>
          <section aria-labelledby="verify-h">
            <h2 id="verify-h">Vision check</h2>
            <Verification v={event.verification} />
          </section>
          <section aria-labelledby="push-h">
            <h2 id="push-h">Notifications sent</h2>
            <Deliveries e={event} />
          </section>
          <section aria-labelledby="timeline-h">
            <h2 id="timeline-h">Timeline</h2>
            <Timeline event={event} messages={messages} />
          </section>
        </div>
      )}
    </Layout>
  );
}
