import type { JSX } from 'preact';
import type { EventDetailJson, EventMessageJson } from '../api/types.js';
import { formatDateTime } from '../format.js';
import { timelineSteps } from './timeline-steps.js';

/** The detail's timeline: one line per step (see timeline-steps.ts), its time first. */
export function Timeline({
  event,
  messages,
}: {
  event: EventDetailJson;
  messages: readonly EventMessageJson[] | null;
}): JSX.Element {
  return (
    <ol class="timeline">
      {timelineSteps(event, messages).map((s, i) => (
        <li key={i} data-step={s.kind}>
          <time dateTime={s.at}>{formatDateTime(s.at)}</time> <span>{s.what}</span>
        </li>
      ))}
    </ol>
  );
}
