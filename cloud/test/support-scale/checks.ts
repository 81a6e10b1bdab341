import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { LocalS3 } from '../support/s3.js';
import type { LlmTestServer } from '../support-llm/llm-server.js';
import type { WebPushTestServer } from '../support-push/webpush-server.js';
import type { ScaleDeployment } from './deployment.js';
import type { AckRecord, Transport } from './sim-box.js';
import type { LiveFeed } from './sse.js';

/**
 * The scale-out test's checks over what the boxes sent (their ack records), the database, the bucket, the LLM and
 * Web Push servers and the live feeds. Each returns a list of problems (empty = pass) and a summary to print.
 */
export interface SentEvent {
  eventId: string;
  camera: string;
  deviceId: string;
  transport: Transport;
  /** Acks of `new`, the thumbnail and `end`, in that order. */
  acks: AckRecord[];
}

export interface CheckResult {
  problems: string[];
  summary: Record<string, number>;
}

/** Keys in the bucket under `prefix`. */
export async function listBucket(s3: LocalS3, prefix: string): Promise<string[]> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const keys: string[] = [];
  let token: string | undefined;
  try {
    do {
      const list = new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token });
      const page = await client.send(list);
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    client.destroy();
  }
  return keys;
}

/**
 * Every acked event is in the database once, ended at rev 1, with both messages and its thumbnail, and the bucket
 * holds exactly the stored thumbnails — besides temporary `<prefix>_tmp/` objects a kill may leave (a put streams
 * there and copies after the hash check; README: a lifecycle rule removes them), at most `maxTemporary`.
 */
export async function checkStoredOnce(d: ScaleDeployment, ids: string[], maxTemporary: number): Promise<CheckResult> {
  const problems: string[] = [];
  const expected = [...ids].sort();
  const same = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  type EventRow = { id: string; status: string; rev: string };
  const events = await d.rows<EventRow>('SELECT id, status, last_rev AS rev FROM events');
  const stored = events.map((e) => e.id).sort();
  if (!same(stored, expected)) problems.push(`events: ${events.length} rows, ${ids.length} sent`);
  for (const e of events) {
    if (e.status !== 'ended' || Number(e.rev) !== 1) problems.push(`${e.id}: ${e.status} at rev ${e.rev}`);
  }
  const countMessages = 'SELECT count(*) AS n, count(DISTINCT (event_id, rev)) AS d FROM event_messages';
  const [m] = await d.rows<{ n: string; d: string }>(countMessages);
  const messages = [Number(m!.n), Number(m!.d)];
  if (messages.some((n) => n !== expected.length * 2)) problems.push(`event messages: ${m!.n} rows, ${m!.d} distinct`);
  const thumbs = await d.rows<{ event_id: string; blob_key: string }>('SELECT event_id, blob_key FROM thumbnails');
  if (!same(thumbs.map((t) => t.event_id).sort(), expected)) problems.push(`thumbnails: ${thumbs.length} rows`);
  const objects = await listBucket(d.s3, 'vigil/');
  const temporary = objects.filter((k) => k.startsWith('vigil/_tmp/'));
  const kept = objects.filter((k) => !k.startsWith('vigil/_tmp/')).sort();
  const wanted = thumbs.map((t) => `vigil/${t.blob_key}`).sort();
  if (!same(kept, wanted)) problems.push(`bucket: ${kept.length} objects for ${thumbs.length} thumbnails`);
  if (temporary.length > maxTemporary) problems.push(`bucket: ${temporary.length} temporary objects`);
  const summary = { events: events.length, thumbnails: thumbs.length, temporaryObjects: temporary.length };
  return { problems, summary };
}

export interface OnceOptions {
  d: ScaleDeployment;
  llm: LlmTestServer;
  web: WebPushTestServer;
  sent: SentEvent[];
  /** Web Push subscription id of the tenant's phone. */
  phone: string;
  /** When the SIGKILL was sent, and when the process was seen gone. */
  killAt: number;
  deadAt: number;
  restartedAt: number;
  leaseMs: number;
  /** notify.thumbnail_wait: a job decides without the picture when it has not arrived by then. */
  thumbnailWaitMs: number;
}

/**
 * One LLM request, one verification record and at least one push per event. A second LLM request or a second push
 * with the same collapse id is allowed only for work the killed collector had started: the first before it died,
 * the repeat after it, within the lease (plus slack for a loaded machine). Events sent after the restart: exactly one.
 * An event whose thumbnail was acked later than `thumbnail_wait` after its `new` was sent (e.g. the upload went to
 * the killed collector and was resent) may have been decided without its picture: no LLM request, status
 * unverified, pushed as "Unverified" (notify.llm_down) — still exactly once.
 */
export async function checkOncePerEvent(o: OnceOptions): Promise<CheckResult> {
  const problems: string[] = [];
  const slackMs = 8000;
  const asked = new Map<string, number[]>();
  for (const r of o.llm.requests) {
    const camera = /camera "([^"]+)"/.exec(r.prompt)?.[1];
    if (camera) asked.set(camera, [...(asked.get(camera) ?? []), r.at]);
  }
  const pushes = new Map<string, number[]>();
  for (const d of o.web.deliveries) {
    if (d.subscriptionId !== o.phone) continue;
    const topic = d.headers.topic ?? '';
    pushes.set(topic, [...(pushes.get(topic) ?? []), d.at]);
  }
  type Row = { event_id: string; status: string; decision: string | null; push_state: string | null };
  const rows = await o.d.rows<Row>('SELECT event_id, status, decision, push_state FROM event_verifications');
  const verification = new Map(rows.map((r) => [r.event_id, r]));
  const repeatedInWindow = (t: number[]): boolean =>
    t.length === 2 && t[0]! <= o.deadAt && t[1]! >= o.killAt && t[1]! - o.killAt <= o.leaseMs + slackMs;
  const fromKill = (t: number[]): string => `${t.map((x) => x - o.killAt).join(', ')} ms from the kill`;
  let llmRepeats = 0;
  let pushRepeats = 0;
  let withoutPicture = 0;
  for (const e of o.sent) {
    const llm = asked.get(e.camera) ?? [];
    const [created, thumb] = e.acks as [AckRecord, AckRecord];
    const v = verification.get(e.eventId);
    const lateMs = thumb.ackedAt - created.sentAt;
    const unverified = v?.status === 'unverified' && v.decision === 'llm_down_push_unverified';
    if (llm.length === 0 && lateMs > o.thumbnailWaitMs && unverified && v.push_state === 'sent') withoutPicture++;
    else if (llm.length === 0) {
      problems.push(`${e.eventId}: no LLM request (thumbnail after ${lateMs} ms; ${JSON.stringify(v)})`);
    } else if (v?.status !== 'verified' || v.decision === null || v.push_state !== 'sent') {
      problems.push(`${e.eventId}: verification ${JSON.stringify(v)}`);
    }
    if (llm.length > 1) {
      llmRepeats++;
      if (!repeatedInWindow(llm)) problems.push(`${e.eventId}: ${llm.length} LLM requests at ${fromKill(llm)}`);
    }
    const p = pushes.get(e.eventId) ?? [];
    if (p.length === 0) problems.push(`${e.eventId}: never pushed`);
    else if (p.length > 1) {
      pushRepeats++;
      const allowed = repeatedInWindow(p) && created.sentAt <= o.restartedAt;
      if (!allowed) problems.push(`${e.eventId}: ${p.length} pushes at ${fromKill(p)}`);
    }
  }
  const summary = {
    events: o.sent.length,
    llmRequests: o.llm.requests.length,
    llmRepeatsAfterKill: llmRepeats,
    pushes: o.web.deliveries.length,
    pushRepeatsInLeaseWindow: pushRepeats,
    decidedWithoutPicture: withoutPicture,
  };
  return { problems, summary };
}

/**
 * Every change (new, thumbnail, end) a box had acked while a feed was open is on that feed, once: `event.new` for
 * rev 0, `event.updated` for the others, and the last message shows the final state. A change the killed collector
 * may have stored just before it died (sent before it died, acked less than 1 s before the kill or later) can miss
 * the live feeds: its NOTIFY goes out after the commit, and a kill in between loses it (the app catches up with
 * `GET /v1/events?since=`). Those are counted, not required.
 */
export function checkLiveFeeds(feeds: LiveFeed[], sent: SentEvent[], killAt: number, deadAt: number): CheckResult {
  const problems: string[] = [];
  let required = 0;
  let uncertain = 0;
  let uncertainMissed = 0;
  const certain = (a: AckRecord): boolean => !(a.sentAt <= deadAt && a.ackedAt >= killAt - 1000);
  for (const f of feeds) {
    const open = (a: AckRecord): boolean => a.sentAt > f.openedAt && a.ackedAt < (f.closedAt ?? Infinity) - 2000;
    const must = (a: AckRecord): boolean => certain(a) && open(a);
    for (const e of sent) {
      const [created, thumb, ended] = e.acks as [AckRecord, AckRecord, AckRecord];
      const msgs = f.about(e.eventId);
      const news = msgs.filter((m) => m.event === 'event.new').length;
      const updates = msgs.filter((m) => m.event === 'event.updated').length;
      if (news > 1 || updates > 2) problems.push(`${f.name}: ${e.eventId} broadcast ${news} new, ${updates} updated`);
      const wantNew = must(created) ? 1 : 0;
      const wantUpdates = [thumb, ended].filter(must).length;
      required += wantNew + wantUpdates;
      const inWindow = [created, thumb, ended].filter(open);
      uncertain += inWindow.filter((a) => !certain(a)).length;
      if (news < wantNew || updates < wantUpdates) {
        const seen = `${news} new/${updates} updated, expected ${wantNew}/${wantUpdates}`;
        problems.push(`${f.name}: ${e.eventId} (${e.transport}) seen ${seen}`);
      } else if (news + updates < inWindow.length) uncertainMissed += inWindow.length - news - updates;
      if (wantNew + wantUpdates === 3) {
        const last = msgs.at(-1)?.data as { status?: string; thumbnail?: unknown } | undefined;
        if (last?.status !== 'ended' || !last.thumbnail) {
          problems.push(`${f.name}: ${e.eventId} last seen as ${JSON.stringify(last)?.slice(0, 200)}`);
        }
      }
    }
  }
  const summary = { feeds: feeds.length, requiredChanges: required, uncertainChanges: uncertain, uncertainMissed };
  return { problems, summary };
}
