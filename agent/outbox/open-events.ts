import type { Database as Db, Statement } from 'better-sqlite3';
import { describeError } from '../errors.js';
import type { Logger } from '../../shared/log/index.js';
import type { EnqueueResult } from './api.js';
import type { OutboxEvent } from './types.js';

/**
 * The open-event ledger: every event the box announced (`new` queued) and has not ended (`end` queued), kept in
 * the outbox file and written in the SAME transaction as the enqueue of each event message — so after a crash,
 * kill -9 or power cut it says exactly which events the collector has been told about and never saw end. Review
 * items (review records) are kept the same way and ended the same way, without `end_reason` (a Review has none).
 *
 * At start, before any camera runs, the daemon ends each of them (`endEventsLeftOpen`): an `end` message with the
 * next rev, `ended_at` = the time its last message was queued and `end_reason: agent_restart`, queued through the
 * outbox like any message (durable, signed at send, acked), which removes its ledger row in the same transaction.
 *
 * One row per open event (a few dozen bytes plus the last message, ~1 KB): the ledger holds the last queued
 * message so the synthesized end carries the same camera, label, box, scores and thumbnail announcement.
 */

/** Schema step 4 of the outbox file (schema.ts). */
export const OPEN_EVENTS_TABLE = `
  CREATE TABLE open_events (
    event_id   TEXT    PRIMARY KEY,
    camera     TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    started_at TEXT    NOT NULL,
    last_rev   INTEGER NOT NULL CHECK (last_rev >= 0),
    last_at    INTEGER NOT NULL,
    last_event TEXT    NOT NULL
  );
`;

export interface OpenEvent {
  eventId: string;
  camera: string;
  label: string;
  /** started_at of the event (ISO date-time, as sent). */
  startedAt: string;
  /** Rev of the last message queued for it. */
  lastRev: number;
  /** Epoch ms (outbox clock) when that message was queued. */
  lastAt: number;
  /** That message (protocol Event). */
  lastEvent: OutboxEvent;
}

interface Row {
  event_id: string;
  camera: string;
  label: string;
  started_at: string;
  last_rev: number;
  last_at: number;
  last_event: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export class OpenEventLedger {
  private readonly st: Record<'upsert' | 'remove' | 'all' | 'count', Statement>;

  constructor(db: Db) {
    this.st = {
      // A later rev replaces the row; a re-queued older one never moves it back.
      upsert: db.prepare(
        `INSERT INTO open_events (event_id, camera, label, started_at, last_rev, last_at, last_event)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (event_id) DO UPDATE SET camera = excluded.camera, label = excluded.label,
           started_at = excluded.started_at, last_rev = excluded.last_rev, last_at = excluded.last_at,
           last_event = excluded.last_event
         WHERE excluded.last_rev > open_events.last_rev`,
      ),
      remove: db.prepare('DELETE FROM open_events WHERE event_id = ?'),
      all: db.prepare(
        `SELECT event_id, camera, label, started_at, last_rev, last_at, last_event
           FROM open_events ORDER BY last_at, event_id`,
      ),
      count: db.prepare('SELECT count(*) AS n FROM open_events'),
    };
  }

  /**
   * Bookkeeping for one queued event message; the outbox calls it inside the enqueue transaction. `new`/`update`
   * insert or advance the row, `end` deletes it.
   */
  record(event: OutboxEvent, queuedAt: number): void {
    if (event.type === 'end') {
      this.st.remove.run(event.id);
      return;
    }
    const { camera, label, started_at: startedAt } = event;
    this.st.upsert.run(event.id, str(camera), str(label), str(startedAt), event.rev, queuedAt, JSON.stringify(event));
  }

  list(): OpenEvent[] {
    return (this.st.all.all() as Row[]).map((r) => ({
      eventId: r.event_id,
      camera: r.camera,
      label: r.label,
      startedAt: r.started_at,
      lastRev: r.last_rev,
      lastAt: r.last_at,
      lastEvent: JSON.parse(r.last_event) as OutboxEvent,
    }));
  }

  count(): number {
    return (this.st.count.get() as { n: number }).n;
  }
}

/**
 * The `end` message for an event a previous run left open: the next rev after its last queued message, ended at
 * that message's time (never before the event started), `end_reason: agent_restart`.
 */
export function restartEnd(open: OpenEvent): OutboxEvent {
  const { sent_at: _sent, ended_at: _ended, end_reason: _reason, duration_s: _duration, ...last } = open.lastEvent;
  const startedMs = Date.parse(open.startedAt);
  const endedMs = Number.isNaN(startedMs) ? open.lastAt : Math.max(startedMs, open.lastAt);
  // A review item (kind review) ends the same way; a Review has no duration or end reason.
  if (last.kind === 'review')
    return { ...last, id: open.eventId, type: 'end', rev: open.lastRev + 1, ended_at: new Date(endedMs).toISOString() };
  return {
    ...last,
    id: open.eventId,
    type: 'end',
    rev: open.lastRev + 1,
    ended_at: new Date(endedMs).toISOString(),
    ...(Number.isNaN(startedMs) ? {} : { duration_s: Math.round(endedMs - startedMs) / 1000 }),
    end_reason: 'agent_restart',
  };
}

/** What the restart sweep needs from the outbox (Outbox satisfies it). */
export interface LedgerOutbox {
  readonly openEvents: OpenEventLedger;
  enqueue(event: OutboxEvent): EnqueueResult;
}

export interface RestartSweepResult {
  /** Ends queued (each removed its ledger row in the same transaction). */
  ended: string[];
  /** Ends the outbox refused (disk full, over budget): their rows stay, the next start tries again. */
  failed: string[];
}

/**
 * Ends every event a previous run left open (see the module comment). Run it at start, before the cameras: then
 * every ledger row belongs to a run that is gone. Never throws; a refused end is logged and kept for next time.
 */
export function endEventsLeftOpen(outbox: LedgerOutbox, log: Logger): RestartSweepResult {
  const result: RestartSweepResult = { ended: [], failed: [] };
  let open: OpenEvent[];
  try {
    open = outbox.openEvents.list();
  } catch (err) {
    log.error({ err: describeError(err) }, 'cannot read the open-event ledger; events of the previous run stay open');
    return result;
  }
  for (const o of open) {
    const end = restartEnd(o);
    try {
      outbox.enqueue(end);
      result.ended.push(o.eventId);
    } catch (err) {
      result.failed.push(o.eventId);
      const why = describeError(err);
      log.error({ event: o.eventId, rev: end.rev, err: why }, "could not queue the end of a previous run's event");
    }
  }
  if (open.length > 0) {
    log.warn(
      { ended: result.ended.length, failed: result.failed.length, events: open.map((o) => o.eventId).slice(0, 20) },
      'the previous run stopped with events open (crash, kill -9, power cut): ended them with end_reason agent_restart',
    );
  }
  return result;
}
