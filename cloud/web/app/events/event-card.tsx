import type { JSX } from 'preact';
import type { EventJson } from '../api/types.js';
import { formatDuration, formatWhen, humanName } from '../format.js';
import { Link } from '../router.js';
import { CardThumb } from '../components/thumb.js';

/** One event in the list: picture, what and where, when and how long, the vision check's verdict, push status. */
export function verdictText(e: Pick<EventJson, 'verification'>): string | null {
  const v = e.verification;
  if (v === undefined) return null;
  if (v === null) return 'not checked';
  return v.status;
}

export function EventCard({
  event,
  device,
  unread,
}: {
  event: EventJson;
  device: string;
  unread: boolean;
}): JSX.Element {
  const verdict = verdictText(event);
  const summary = event.verification?.summary ?? event.verification?.classify_summary;
  const pushed = event.push?.sent ?? event.push_sent;
  return (
    <li class={`card${unread ? ' card-unread' : ''}`}>
      <Link href={`/events/${encodeURIComponent(event.id)}`} class="card-link" data-event-id={event.id}>
        <CardThumb event={event} />
        <div class="card-body">
          <p class="card-title">
            {unread && <span class="unread-dot" aria-label="unread" role="img" />}
            <span class="card-label">{humanName(event.label)}</span>
            <span class="card-camera">{humanName(event.camera)}</span>
          </p>
          <p class="card-meta">
            <time dateTime={event.started_at}>{formatWhen(event.started_at)}</time>
            <span> · {event.status === 'active' ? 'ongoing' : formatDuration(event.duration_s)}</span>
            <span> · {device}</span>
          </p>
          {(verdict || pushed) && (
            <p class="card-tags">
              {verdict && <span class={`chip chip-${verdict.replace(/\s+/g, '-')}`}>{verdict}</span>}
              {pushed && <span class="chip chip-push">pushed</span>}
            </p>
          )}
          {summary && <p class="card-summary">{summary}</p>}
        </div>
      </Link>
    </li>
  );
}
