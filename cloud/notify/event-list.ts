import type { EventListJoin } from '../store/event-list.js';
import { NOTIFY_JOB } from './notifier.js';

/**
 * Each event's verification and push state for the app's event list, joined into the list query (the store runs
 * it, this stage owns the SQL over its tables: event_verifications, push_deliveries and the verify job in jobs), so
 * a page of cards costs one query, and `verdict` filters before paging.
 *
 * The status is the one GET /v1/events/{id} shows (cloud/api/event-json.ts notifyJson): the policy's verdict
 * (verified | unverified | rejected | held | skipped) once the job classified or decided; `failed` when the job
 * died before that; `pending` while it has not; no verification at all (null) for an event without a job (notify
 * off when it came).
 */
export const VERIFICATION_STATUSES = [
  'verified',
  'unverified',
  'rejected',
  'held',
  'skipped',
  'pending',
  'failed',
] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

/** What an event list item carries about its verification and push. */
export interface EventListNotify {
  verification: {
    status: VerificationStatus;
    /** The LLM's (or fallback's) answer, when it classified the event; else null. */
    label: string | null;
    confidence: number | null;
    summary: string | null;
    provider: string | null;
  } | null;
  push: {
    /** The policy's decision reason (verified, cooldown, quiet_hours, …); null until it decided. */
    decision: string | null;
    /** At least one phone or browser got the event's own push. */
    sent: boolean;
  };
}

/** The classification columns notify/records.ts reads as a classification (all three set). */
const CLASSIFIED = 'v.classified_at IS NOT NULL AND v.classify_label IS NOT NULL AND v.provider IS NOT NULL';

/** The status expression (a CASE over the joined rows), shared by the column and the filter. */
const STATUS = `CASE
    WHEN v.event_id IS NOT NULL AND (v.decision IS NOT NULL OR (${CLASSIFIED})) THEN v.status
    WHEN j.state = 'dead' THEN 'failed'
    WHEN v.event_id IS NOT NULL OR j.id IS NOT NULL THEN 'pending'
  END`;

const COLUMNS = [
  `${STATUS} AS n_status`,
  `CASE WHEN ${CLASSIFIED} THEN 1 ELSE 0 END AS n_classified`,
  'v.classify_label AS n_label',
  'v.classify_confidence AS n_confidence',
  'v.classify_summary AS n_summary',
  'v.provider AS n_provider',
  'v.decision AS n_decision',
  `CASE WHEN EXISTS (SELECT 1 FROM push_deliveries d WHERE d.event_id = e.id AND d.status = 'sent')
     THEN 1 ELSE 0 END AS n_sent`,
].join(',\n  ');

const JOINS =
  'LEFT JOIN event_verifications v ON v.event_id = e.id ' +
  `LEFT JOIN jobs j ON j.kind = '${NOTIFY_JOB}' AND j.event_id = e.id`;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function read(r: Readonly<Record<string, unknown>>): EventListNotify {
  const status = str(r.n_status) as VerificationStatus | null;
  const classified = Number(r.n_classified) === 1;
  return {
    verification:
      status === null
        ? null
        : {
            status,
            label: classified ? str(r.n_label) : null,
            confidence: classified && r.n_confidence !== null ? Number(r.n_confidence) : null,
            summary: classified ? (str(r.n_summary) ?? '') : null,
            provider: classified ? str(r.n_provider) : null,
          },
    push: { decision: str(r.n_decision), sent: Number(r.n_sent) === 1 },
  };
}

/** The join for a page of events; with `verdict`, only events whose status is that. */
export function eventListJoin(verdict?: VerificationStatus): EventListJoin<EventListNotify> {
  return {
    columns: COLUMNS,
    joins: JOINS,
    where: verdict === undefined ? [] : [{ sql: `(${STATUS}) = ?`, params: [verdict] }],
    read,
  };
}
