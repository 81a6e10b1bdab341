import type { JSX } from 'preact';
import type { EventDetailJson } from '../api/types.js';
import { formatDateTime } from '../format.js';

/**
 * The event's life: announced (new), its updates (rev), the end, the vision check and the push — from the fields
 * GET /v1/events/{id} gives, in time order.
 */
interface Step {
  at: string;
  what: string;
}

export function timelineSteps(e: EventDetailJson): Step[] {
  const steps: Step[] = [{ at: e.started_at, what: `Started: ${e.label} seen` }];
  steps.push({ at: e.created_at, what: 'Received by the collector' });
  if (e.rev > (e.status === 'ended' ? 1 : 0))
    steps.push({ at: e.updated_at, what: `Updated ${e.rev} time${e.rev === 1 ? '' : 's'} by the box (last update)` });
  if (e.ended_at)
    steps.push({ at: e.ended_at, what: `Ended${e.end_reason ? ` (${e.end_reason.replace(/_/g, ' ')})` : ''}` });
  if (e.verification?.classified_at)
    steps.push({ at: e.verification.classified_at, what: `Vision check: ${e.verification.status}` });
  if (e.push_at) steps.push({ at: e.push_at, what: 'Push sent' });
  return steps.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

export function Timeline({ event }: { event: EventDetailJson }): JSX.Element {
  return (
    <ol class="timeline">
      {timelineSteps(event).map((s, i) => (
        <li key={i}>
          <time dateTime={s.at}>{formatDateTime(s.at)}</time> <span>{s.what}</span>
        </li>
      ))}
    </ol>
  );
}
