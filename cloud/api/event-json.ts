import type { EventNotifyStatus } from '../notify/notifier.js';
import type { EventMessageRecord, EventRecord } from '../store/store.js';

/** An event as the app API returns it. */
export interface EventJson {
  id: string;
  device_id: string;
  camera: string;
  label: string;
  score: number;
  top_score: number | null;
  box: unknown;
  status: 'active' | 'ended';
  /** left | agent_stop | agent_restart (the box's) | device_lost (the collector's); null while active or unknown. */
  end_reason: EventRecord['endReason'];
  rev: number;
  started_at: string;
  ended_at: string | null;
  duration_s: number | null;
  /** Zones the object entered, in order of entry. */
  zones: unknown[];
  /** Zones the object is in now (as of its latest message). */
  current_zones: unknown[];
  attributes: Record<string, unknown>;
  stationary: boolean;
  thumbnail: { url: string; sha256: string; size: number; content_type: string } | null;
  created_at: string;
  updated_at: string;
}

export function eventJson(e: EventRecord): EventJson {
  return {
    id: e.id,
    device_id: e.deviceId,
    camera: e.camera,
    label: e.label,
    score: e.score,
    top_score: e.topScore,
    box: e.box,
    status: e.status,
    end_reason: e.endReason,
    rev: e.lastRev,
    started_at: new Date(e.startedAt).toISOString(),
    ended_at: e.endedAt === null ? null : new Date(e.endedAt).toISOString(),
    duration_s: e.durationMs === null ? null : e.durationMs / 1000,
    zones: e.zones,
    current_zones: e.currentZones,
    attributes: e.attributes,
    stationary: e.stationary,
    thumbnail: e.thumbnail
      ? {
          url: `/v1/events/${encodeURIComponent(e.id)}/thumbnail`,
          sha256: e.thumbnail.sha256,
          size: e.thumbnail.size,
          content_type: e.thumbnail.contentType,
        }
      : null,
    created_at: new Date(e.createdAt).toISOString(),
    updated_at: new Date(e.updatedAt).toISOString(),
  };
}

const iso = (t: number | null | undefined): string | null =>
  t === null || t === undefined ? null : new Date(t).toISOString();

/** One message of GET /v1/events/{id}/messages: what the box said, when it sent it and when it arrived. */
export function eventMessageJson(m: EventMessageRecord): Record<string, unknown> {
  return {
    rev: m.rev,
    type: m.type,
    received_at: new Date(m.receivedAt).toISOString(),
    sent_at: iso(m.sentAt),
    score: m.score,
    label: m.label,
    box: m.box,
    zones: m.zones,
    current_zones: m.currentZones,
    stationary: m.stationary,
    end_reason: m.endReason,
  };
}

/**
 * The `verification` and push fields GET /v1/events/{id} adds when verify-then-notify runs (cloud/notify): null
 * fields when the event has no job. `verification.{status,label,confidence,summary,provider}` and `push` are what
 * list items carry too (cloud/notify/event-list.ts); the rest is the detail's.
 */
export function notifyJson(s: EventNotifyStatus): Record<string, unknown> {
  const { job, verification: rec, deliveries } = s;
  const sent = deliveries.some((d) => d.status === 'sent');
  const push = { decision: rec?.decision ?? null, sent };
  if (!job && !rec) return { verification: null, push, push_sent: false, push_at: null, push_deliveries: [] };
  const c = rec?.classification ?? null;
  const status = rec && (rec.decision || c) ? rec.status : job?.state === 'dead' ? 'failed' : 'pending';
  return {
    verification: {
      status,
      label: c?.classify_label ?? null,
      confidence: c?.classify_confidence ?? null,
      summary: c?.classify_summary ?? null,
      reason: c?.reason ?? null,
      job_state: job?.state ?? null,
      attempts: job?.attempts ?? 0,
      last_error: job?.lastError ?? null,
      classify_label: c?.classify_label ?? null,
      classify_confidence: c?.classify_confidence ?? null,
      classify_summary: c?.classify_summary ?? null,
      classify_threat: c?.classify_threat ?? null,
      agrees_with_edge: c?.agrees_with_edge ?? null,
      provider: c?.provider ?? null,
      model: c?.model ?? null,
      ms: c?.ms ?? null,
      prompt_tokens: c?.prompt_tokens ?? null,
      completion_tokens: c?.completion_tokens ?? null,
      cached: c?.cached ?? null,
      classified_at: iso(rec?.classifiedAt),
      decision: rec?.decision ?? null,
      decision_detail: rec?.decisionDetail ?? null,
    },
    push,
    push_sent: sent,
    push_state: rec?.pushState ?? null,
    push_at: iso(rec?.pushAt),
    push_title: rec?.notification?.title ?? null,
    push_deliveries: deliveries.map((d) => ({
      target_id: d.targetId,
      platform: d.platform,
      status: d.status,
      http_status: d.httpStatus,
      reason: d.reason,
      attempts: d.attempts,
      at: iso(d.updatedAt),
    })),
  };
}
