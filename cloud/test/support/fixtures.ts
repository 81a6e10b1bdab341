import { randomBytes } from 'node:crypto';
import { newEventId, newDeviceId, ulid } from '../../../shared/ids/index.js';
import { eventFingerprint } from '../../../firmware-protocol/fingerprint.js';
import type { IngestEventMessage, ReviewMessageInput, WireObject } from '../../ingest/sink.js';
import type { Store } from '../../store/store.js';

/** Builders for test data: paired devices, wire events as ingest hands them to the store. */

/** Pairs a device directly through the store (a code + consume), returning its id. */
export async function pairTestDevice(
  store: Store,
  options: { tenantId?: string; name?: string; now?: number } = {},
): Promise<string> {
  const now = options.now ?? Date.now();
  const codeSha256 = randomBytes(32).toString('hex');
  await store.createPairingCode({
    tenantId: options.tenantId ?? 'default',
    name: options.name ?? null,
    codeSha256,
    hint: 'TEST',
    now,
    expiresAt: now + 60_000,
  });
  const deviceId = newDeviceId(now);
  await store.consumePairingCode({
    codeSha256,
    now,
    deviceId,
    deviceName: options.name ?? null,
    key: { keyId: 'k1', secretSealed: 'sealed' },
  });
  return deviceId;
}

export interface WireEventOptions {
  id?: string;
  deviceId: string;
  type?: 'new' | 'update' | 'end';
  rev?: number;
  camera?: string;
  label?: string;
  score?: number;
  box?: [number, number, number, number];
  startedAt?: string | number;
  endedAt?: string | number;
  thumbnail?: { sha256: string; size: number };
  [extra: string]: unknown;
}

const iso = (t: string | number): string => (typeof t === 'number' ? new Date(t).toISOString() : t);

/** A protocol-v1 Event object. */
export function wireEvent(o: WireEventOptions): WireObject {
  const type = o.type ?? 'new';
  const { id, deviceId, rev, camera, label, score, box, startedAt, endedAt, thumbnail, type: _t, ...extra } = o;
  const e: Record<string, unknown> = {
    v: 1,
    id: id ?? newEventId(),
    device_id: deviceId,
    camera: camera ?? 'front',
    type,
    rev: rev ?? (type === 'new' ? 0 : 1),
    label: label ?? 'person',
    score: score ?? 0.8,
    box: box ?? [0.1, 0.1, 0.4, 0.8],
    started_at: iso(startedAt ?? Date.UTC(2026, 0, 1, 12)),
    ...extra,
  };
  if (endedAt !== undefined || type === 'end') e.ended_at = iso(endedAt ?? Date.UTC(2026, 0, 1, 12, 0, 30));
  if (thumbnail) e.thumbnail = { ...thumbnail, width: 320, height: 240, content_type: 'image/jpeg' };
  return e;
}

/** The message as ingest passes it to the store. */
export function ingestMessage(event: WireObject): IngestEventMessage {
  return { id: String(event.id), rev: Number(event.rev), contentSha256: eventFingerprint(event), event };
}

/** A fresh review item id (`rev_` + ULID). */
export function newReviewId(now: number = Date.now()): string {
  return `rev_${ulid(now)}`;
}

export interface WireReviewOptions {
  id?: string;
  deviceId: string;
  type?: 'new' | 'update' | 'end';
  rev?: number;
  camera?: string;
  severity?: 'alert' | 'detection';
  objects?: string[];
  labels?: string[];
  zones?: string[];
  startedAt?: string | number;
  endedAt?: string | number;
  thumbnailEvent?: string;
  [extra: string]: unknown;
}

/** A protocol-v1 Review object (kind review); one object of label person unless told otherwise. */
export function wireReview(o: WireReviewOptions): WireObject {
  const type = o.type ?? 'new';
  const { id, deviceId, type: _t, rev, camera, severity, objects, labels, zones, startedAt, endedAt, ...rest } = o;
  const { thumbnailEvent, ...extra } = rest;
  const r: Record<string, unknown> = {
    v: 1,
    kind: 'review',
    id: id ?? newReviewId(),
    device_id: deviceId,
    camera: camera ?? 'front',
    type,
    rev: rev ?? (type === 'new' ? 0 : 1),
    severity: severity ?? 'alert',
    started_at: iso(startedAt ?? Date.UTC(2026, 0, 1, 12)),
    objects: objects ?? [newEventId()],
    labels: labels ?? ['person'],
    zones: zones ?? [],
    ...extra,
  };
  if (endedAt !== undefined || type === 'end') r.ended_at = iso(endedAt ?? Date.UTC(2026, 0, 1, 12, 0, 30));
  if (thumbnailEvent !== undefined) r.thumbnail_event = thumbnailEvent;
  return r;
}

/** A review message as ingest passes it to the store. */
export function reviewInput(review: WireObject): ReviewMessageInput {
  return {
    kind: 'review',
    id: String(review.id),
    rev: Number(review.rev),
    contentSha256: eventFingerprint(review),
    review,
  };
}
