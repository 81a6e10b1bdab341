import type { EventDetailJson, EventMessageJson } from '../api/types.js';
import { formatPercent, humanName } from '../format.js';

/**
 * The event's life, in time order: the box's messages as the collector received them (new, each update, the end —
 * GET /v1/events/{id}/messages), the vision check and the push. Without the messages (not loaded yet, or a
 * collector without the route) the steps come from the event's own times.
 */
export interface Step {
  at: string;
  what: string;
  kind: 'new' | 'update' | 'end' | 'check' | 'push' | 'received';
}

const reasonText = (r: string | null | undefined): string => (r ? ` (${r.replace(/_/g, ' ')})` : '');

/** What one message says, beside what the one before it said. */
export function messageText(m: EventMessageJson, before: EventMessageJson | undefined, label: string): string {
  if (m.type === 'new') {
    const zones = m.zones?.length ? `, in ${m.zones.map(humanName).join(', ')}` : '';
    return `New: ${humanName(label)} seen, score ${formatPercent(m.score)}${zones}`;
  }
  if (m.type === 'end') {
    const d = m.duration !== undefined && m.duration !== null ? ` after ${Math.round(m.duration)} s` : '';
    return `Ended${reasonText(m.end_reason)}${d}`;
  }
  const changes: string[] = [];
  if (before?.score !== m.score) changes.push(`score ${formatPercent(m.score)}`);
  const entered = (m.zones ?? []).filter((z) => !(before?.zones ?? []).includes(z));
  if (entered.length) changes.push(`entered ${entered.map(humanName).join(', ')}`);
  if (m.stationary !== undefined && m.stationary !== (before?.stationary ?? false))
    changes.push(m.stationary ? 'stopped moving' : 'moving again');
  return `Update ${m.rev}${changes.length ? `: ${changes.join(', ')}` : ''}`;
}

export function timelineSteps(e: EventDetailJson, messages: readonly EventMessageJson[] | null): Step[] {
  const steps: Step[] = [];
  if (messages && messages.length > 0) {
    const ordered = [...messages].sort((a, b) => a.rev - b.rev);
    ordered.forEach((m, i) => {
      steps.push({ at: m.received_at, what: messageText(m, ordered[i - 1], e.label), kind: m.type });
    });
  } else {
    steps.push({ at: e.started_at, what: `Started: ${e.label} seen`, kind: 'new' });
    steps.push({ at: e.created_at, what: 'Received by the collector', kind: 'received' });
    if (e.rev > (e.status === 'ended' ? 1 : 0))
      steps.push({
        at: e.updated_at,
        what: `Updated ${e.rev} time${e.rev === 1 ? '' : 's'} by the box (last update)`,
        kind: 'update',
      });
    if (e.ended_at) steps.push({ at: e.ended_at, what: `Ended${reasonText(e.end_reason)}`, kind: 'end' });
  }
  if (e.verification?.classified_at)
    steps.push({ at: e.verification.classified_at, what: `Vision check: ${e.verification.status}`, kind: 'check' });
  if (e.push_at) steps.push({ at: e.push_at, what: 'Push sent', kind: 'push' });
  return steps.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}
