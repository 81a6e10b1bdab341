import { VigilError } from '../errors.js';
import type { WireObject } from './messages.js';
import { endReasonOf, type EndReason } from './event-sweep.js';

/**
 * How one event message changes the event's current state. Messages of an event arrive in any order (an `end`
 * may overtake an `update`), so they are applied by `rev`: a later rev replaces what it carries, an earlier one
 * only fills gaps, and nothing ever goes back (an ended event stays ended, last_rev never decreases).
 *
 * End reasons: a box `end` carries its own (`left`, `agent_stop`, `agent_restart`, or none). An event the collector
 * ended itself (`device_lost`, ./event-sweep.ts) that later gets the box's `end` (the next rev) takes the box's
 * reason and end time: the box knows better. That message is stored like any other, never a conflict.
 */
export interface EventState {
  camera: string;
  label: string;
  score: number;
  box: unknown;
  startedAt: number;
  endedAt: number | null;
  status: 'active' | 'ended';
  lastRev: number;
  /** Why it ended; null while active, or when nobody said. */
  endReason: EndReason | null;
  /** The highest-rev message. */
  message: unknown;
}

/** The fields of a wire Event (firmware-protocol `Event`, already validated by ingest) that the event row keeps. */
export interface EventFields {
  id: string;
  rev: number;
  type: 'new' | 'update' | 'end';
  camera: string;
  label: string;
  score: number;
  box: unknown;
  startedAt: number;
  endedAt: number | null;
  /** The box's end_reason (type end only). */
  endReason: EndReason | null;
  message: WireObject;
}

function time(value: unknown, field: string, id: string): number {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new VigilError('invalid_message', `event ${id}: /${field} must be a date-time`);
  return ms;
}

export function eventFields(event: WireObject): EventFields {
  const id = String(event.id);
  const type = event.type;
  if (type !== 'new' && type !== 'update' && type !== 'end')
    throw new VigilError('invalid_message', `event ${id}: /type must be new, update or end`);
  return {
    id,
    rev: Number(event.rev),
    type,
    camera: String(event.camera),
    label: String(event.label),
    score: Number(event.score),
    box: event.box ?? null,
    startedAt: time(event.started_at, 'started_at', id),
    endedAt: event.ended_at === undefined || event.ended_at === null ? null : time(event.ended_at, 'ended_at', id),
    endReason: type === 'end' ? endReasonOf(event.end_reason) : null,
    message: event,
  };
}

export function durationOf(s: EventState): number | null {
  return s.endedAt === null ? null : Math.max(0, s.endedAt - s.startedAt);
}

function endsEvent(m: EventFields): boolean {
  return m.type === 'end' || m.endedAt !== null;
}

export function applyEventMessage(
  current: EventState | undefined,
  m: EventFields,
): { next: EventState; changed: boolean } {
  if (!current) {
    return {
      changed: true,
      next: {
        camera: m.camera,
        label: m.label,
        score: m.score,
        box: m.box ?? null,
        startedAt: m.startedAt,
        endedAt: m.endedAt,
        status: endsEvent(m) ? 'ended' : 'active',
        lastRev: m.rev,
        endReason: m.endReason,
        message: m.message,
      },
    };
  }
  if (m.rev > current.lastRev) {
    const next: EventState = {
      camera: m.camera,
      label: m.label,
      score: m.score,
      box: m.box ?? current.box,
      startedAt: Math.min(current.startedAt, m.startedAt),
      endedAt: m.endedAt ?? current.endedAt,
      status: current.status === 'ended' || endsEvent(m) ? 'ended' : 'active',
      lastRev: m.rev,
      // The box's end decides (even without a reason: then nobody knows); anything else keeps what was known.
      endReason: m.type === 'end' ? m.endReason : current.endReason,
      message: m.message,
    };
    return { next, changed: true };
  }
  // An older (or equal) rev arriving late: fill what is missing, never overwrite newer data — except the
  // collector's own device_lost guess, which a box end overrules.
  const lostOverruled = m.type === 'end' && current.endReason === 'device_lost';
  const next: EventState = {
    ...current,
    box: current.box ?? m.box ?? null,
    startedAt: Math.min(current.startedAt, m.startedAt),
    endedAt: lostOverruled ? (m.endedAt ?? current.endedAt) : (current.endedAt ?? m.endedAt),
    status: current.status === 'ended' || endsEvent(m) ? 'ended' : 'active',
    endReason: lostOverruled ? m.endReason : (current.endReason ?? m.endReason),
  };
  const changed =
    next.box !== current.box ||
    next.startedAt !== current.startedAt ||
    next.endedAt !== current.endedAt ||
    next.status !== current.status ||
    next.endReason !== current.endReason;
  return { next, changed };
}
