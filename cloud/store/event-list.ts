import type { SqlValue } from '../db/sql.js';
import type { EventCursor, EventRecord } from './store.js';

/**
 * What another stage adds to a page of events from its own tables, in the SAME query (a join, not one query per
 * event): the columns and joins it writes over its tables, filters on them, and how it reads them back. The store
 * runs the SQL; the stage owns it (cloud/notify/event-list.ts: each event's verification and push state).
 */
export interface EventListJoin<T> {
  /** Select-list expressions, each aliased (`v.status AS n_status`); no placeholders. May refer to `e` (events). */
  columns: string;
  /** JOIN clauses onto `events e`; no placeholders. */
  joins: string;
  /** Conditions AND-ed to the filter, each with its parameters in order. */
  where: ReadonlyArray<{ sql: string; params: readonly SqlValue[] }>;
  /** The stage's view of one row (read by the aliases it chose). */
  read(row: Readonly<Record<string, unknown>>): T;
}

/** A page of events, each with what the join read for it; newest first. */
export interface JoinedEventPage<T> {
  events: Array<{ event: EventRecord; joined: T }>;
  next: EventCursor | null;
}
