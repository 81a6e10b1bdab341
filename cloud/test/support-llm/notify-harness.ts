import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { eventsPath, thumbnailPath } from '../../../firmware-protocol/http.js';
import { newEventId } from '../../../shared/ids/index.js';
import { cloudConfig } from '../../config.js';
import type { DeliveryRow } from '../../notify/records.js';
import { createPushSenders, PushService, type PushSender } from '../../push/index.js';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import { wireEvent } from '../support/fixtures.js';
import type { TestCloud } from '../support/cloud.js';
import { ApnsTestServer, type ApnsDelivery } from '../support-push/apns-server.js';
import { FcmTestServer, type FcmDelivery } from '../support-push/fcm-server.js';
import {
  apnsDeviceToken,
  apnsTestKey,
  fcmRegistrationToken,
  fcmTestAccount,
  vapidTestKeys,
} from '../support-push/keys.js';
import {
  WebPushTestServer,
  type WebPushDelivery,
  type WebPushSubscriptionJson,
} from '../support-push/webpush-server.js';
import { LlmTestServer } from './llm-server.js';

/**
 * Everything around a collector that verifies and notifies, for end-to-end tests and the notify benchmark: the
 * local vision-LLM server, and local APNs (h2c), FCM and Web Push servers that check credentials and decrypt.
 *
 *   const h = await startNotifyHarness();
 *   const t = await startTestCloud(backend, { overrides: h.overrides() });
 *   const tokens = await h.registerTokens(t);
 *   const { eventId } = await h.sendEvent(t, creds, { camera: 'door' });
 */
export const BUNDLE_ID = 'com.example.vigil';

export interface SentEvent {
  eventId: string;
  jpeg: Buffer;
  /** When the collector answered the event upload (HTTP 200), ms. */
  ackedAt: number;
}

export interface Deliveries {
  apns: ApnsDelivery[];
  fcm: FcmDelivery[];
  web: Array<WebPushDelivery & { payload: Record<string, unknown> }>;
}

export interface RegisteredTokens {
  apns: string;
  fcm: string;
  web: WebPushSubscriptionJson;
}

let pictures = 0;

/**
 * A 640x480 JPEG with some structure, different for every call: the collector never pays twice for the same
 * picture (answer cache), so each test event needs its own.
 */
export async function testPicture(): Promise<Buffer> {
  const n = ++pictures;
  const w = 640;
  const h = 480;
  const raw = Buffer.alloc(w * h * 3);
  const fx = 100 + ((n * 37) % 400); // a dark upright "figure", somewhere else each time
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const figure = x >= fx && x < fx + 120 && y >= 120 && y < 420;
      raw[i] = figure ? 30 : (x * 255) / w;
      raw[i + 1] = figure ? 30 : (y * 255) / h;
      raw[i + 2] = figure ? 40 : (n * 53) % 256;
    }
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

export class NotifyHarness {
  private constructor(
    readonly llm: LlmTestServer,
    readonly apns: ApnsTestServer,
    readonly fcm: FcmTestServer,
    readonly web: WebPushTestServer,
    readonly vapid: { publicKey: string; privateKey: string },
    private readonly dir: string,
    private readonly push: Record<string, unknown>,
    /** Senders built from the push config once, shared by every collector of a test run (see pushService). */
    readonly senders: PushSender[],
    /**
     * One push service for all collectors: the local APNs server, strict like APNs, refuses a second provider token
     * within 20 minutes, and every collector process would mint its own.
     */
    readonly pushService: PushService,
  ) {}

  static async start(llmOptions: Parameters<typeof LlmTestServer.start>[0] = {}): Promise<NotifyHarness> {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-notify-'));
    const llm = await LlmTestServer.start({ models: ['vision-1'], ...llmOptions });
    const apnsKey = await apnsTestKey();
    const apns = await ApnsTestServer.start({
      teamId: apnsKey.teamId,
      keyId: apnsKey.keyId,
      publicKey: apnsKey.publicKey,
      bundleId: BUNDLE_ID,
    });
    // The account's own token_uri is a placeholder: config push.fcm.token_uri points at the local server.
    const account = await fcmTestAccount('http://127.0.0.1/token');
    const fcm = await FcmTestServer.start({
      clientEmail: account.json.client_email,
      publicKey: account.publicKey,
      projectId: account.json.project_id,
    });
    const web = await WebPushTestServer.start();
    const vapid = vapidTestKeys();
    writeFileSync(join(dir, 'AuthKey.p8'), apnsKey.pem);
    writeFileSync(join(dir, 'sa.json'), JSON.stringify(account.json));
    const push = {
      apns: {
        team_id: apnsKey.teamId,
        key_id: apnsKey.keyId,
        key_file: join(dir, 'AuthKey.p8'),
        bundle_id: BUNDLE_ID,
        endpoint: apns.url,
      },
      fcm: { service_account_file: join(dir, 'sa.json'), endpoint: fcm.url, token_uri: fcm.tokenUri },
      webpush: { subject: 'mailto:ops@vigil.example.com', public_key: vapid.publicKey, private_key: vapid.privateKey },
    };
    const senders = createPushSenders(cloudConfig({ push }).push);
    const pushService = new PushService({ senders, backoffBaseMs: 100 });
    return new NotifyHarness(llm, apns, fcm, web, vapid, dir, push, senders, pushService);
  }

  /** Collector config: the LLM as the only provider, all three push platforms, a fast queue. */
  overrides(
    extra: {
      reclassify?: Record<string, unknown>;
      notify?: Record<string, unknown>;
      queue?: Record<string, unknown>;
      push?: Record<string, unknown>;
    } = {},
  ): Record<string, unknown> {
    return {
      reclassify: {
        providers: [{ kind: 'openai', base_url: this.llm.url, model: 'vision-1' }],
        budget: '5s',
        ...extra.reclassify,
      },
      notify: { thumbnail_wait: '5s', ...extra.notify },
      queue: { poll: '100ms', lease: '2s', backoff_base: '200ms', backoff_max: '1s', ...extra.queue },
      push: { ...this.push, backoff_base: '100ms', ...extra.push },
    };
  }

  /**
   * One phone per platform for the tenant: APNs and FCM through the API, Web Push (http endpoint) through the store.
   */
  async registerTokens(t: TestCloud, tenantId = 'default'): Promise<RegisteredTokens> {
    const apns = apnsDeviceToken();
    const fcm = fcmRegistrationToken();
    for (const body of [
      { platform: 'apns', token: apns, app_id: BUNDLE_ID, device_label: 'iPhone' },
      { platform: 'fcm', token: fcm, device_label: 'Pixel' },
    ]) {
      const res = await t.api('/v1/push/tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.status !== 201) throw new Error(`register ${body.platform}: ${res.status} ${await res.text()}`);
    }
    const web = this.web.subscribe(this.vapid.publicKey);
    await t.db.store.upsertPushToken({
      tenantId,
      platform: 'webpush',
      token: web.endpoint,
      p256dh: web.keys.p256dh,
      auth: web.keys.auth,
      deviceLabel: 'Firefox',
      now: Date.now(),
    });
    return { apns, fcm, web };
  }

  /**
   * A signed event (announcing a thumbnail unless `thumbnail: false`) and its JPEG, uploaded as a box does.
   * `uploadThumbnail: false` announces the picture but never sends it.
   */
  async sendEvent(
    t: TestCloud,
    creds: DeviceCredentials,
    o: {
      camera: string;
      label?: string;
      score?: number;
      thumbnail?: boolean;
      uploadThumbnail?: boolean;
      id?: string;
      jpeg?: Buffer;
    },
  ): Promise<SentEvent> {
    const sent = await this.sendEventDeferred(t, creds, o);
    if ((o.thumbnail ?? true) && (o.uploadThumbnail ?? true)) await sent.upload();
    return sent;
  }

  /** Like sendEvent, but the thumbnail goes up only when `upload()` is called. */
  async sendEventDeferred(
    t: TestCloud,
    creds: DeviceCredentials,
    o: { camera: string; label?: string; score?: number; thumbnail?: boolean; id?: string; jpeg?: Buffer },
  ): Promise<SentEvent & { upload(): Promise<void> }> {
    const jpeg = o.jpeg ?? (await testPicture());
    const eventId = o.id ?? newEventId();
    const withThumb = o.thumbnail ?? true;
    const event = wireEvent({
      id: eventId,
      deviceId: creds.deviceId,
      camera: o.camera,
      label: o.label ?? 'person',
      score: o.score ?? 0.82,
      startedAt: Date.now() - 1000,
      ...(withThumb
        ? { thumbnail: { sha256: createHash('sha256').update(jpeg).digest('hex'), size: jpeg.length } }
        : {}),
    });
    const res = await t.signedFetch(creds, 'POST', eventsPath(creds.deviceId), Buffer.from(JSON.stringify(event)));
    if (res.status !== 200) throw new Error(`event upload: ${res.status} ${await res.text()}`);
    const ackedAt = Date.now();
    return {
      eventId,
      jpeg,
      ackedAt,
      async upload() {
        const put = await t.signedFetch(creds, 'PUT', thumbnailPath(creds.deviceId, eventId), jpeg, 'image/jpeg');
        if (put.status !== 200) throw new Error(`thumbnail upload: ${put.status} ${await put.text()}`);
      },
    };
  }

  /** A later message (update, rev 1) of an event. */
  async sendUpdate(t: TestCloud, creds: DeviceCredentials, eventId: string, camera: string): Promise<void> {
    const event = wireEvent({
      id: eventId,
      deviceId: creds.deviceId,
      camera,
      type: 'update',
      rev: 1,
      score: 0.9,
      startedAt: Date.now() - 2000,
    });
    const res = await t.signedFetch(creds, 'POST', eventsPath(creds.deviceId), Buffer.from(JSON.stringify(event)));
    if (res.status !== 200) throw new Error(`update upload: ${res.status} ${await res.text()}`);
  }

  /** Pushes that reached each platform server for one event. */
  deliveries(eventId: string): Deliveries {
    return {
      apns: this.apns.deliveries.filter((d) => d.payload.event_id === eventId),
      fcm: this.fcm.deliveries.filter(
        (d) => (d.message.data as Record<string, unknown> | undefined)?.event_id === eventId,
      ),
      web: this.web.deliveries
        .map((d) => ({ ...d, payload: JSON.parse(d.plaintext) as Record<string, unknown> }))
        .filter((d) => d.payload.event_id === eventId),
    };
  }

  async close(): Promise<void> {
    await this.pushService.close();
    for (const s of [this.llm, this.apns, this.fcm, this.web]) await s.close().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** GET /v1/events/{id} until `done` says so. */
export async function waitForEvent(
  t: TestCloud,
  eventId: string,
  done: (e: EventView) => boolean,
  timeoutMs = 20_000,
): Promise<EventView> {
  const end = Date.now() + timeoutMs;
  let last: EventView | undefined;
  while (Date.now() < end) {
    const res = await t.api(`/v1/events/${eventId}`);
    if (res.status === 200) {
      last = (await res.json()) as EventView;
      if (done(last)) return last;
    }
    await sleep(50);
  }
  throw new Error(`event ${eventId} did not reach the expected state; last seen: ${JSON.stringify(last)}`);
}

export interface EventView {
  id: string;
  verification: {
    status: string;
    reason: string | null;
    job_state: string | null;
    attempts: number;
    last_error: string | null;
    classify_label: string | null;
    classify_confidence: number | null;
    classify_summary: string | null;
    classify_threat: number | null;
    agrees_with_edge: boolean | null;
    provider: string | null;
    model: string | null;
    ms: number | null;
    prompt_tokens: number | null;
    completion_tokens: number | null;
    cached: boolean | null;
    decision: string | null;
    decision_detail: string | null;
  } | null;
  push_sent: boolean;
  push_state: string | null;
  push_at: string | null;
  push_title: string | null;
  push_deliveries: Array<Omit<DeliveryRow, 'updated_at'>>;
}

/** The job is finished (done or dead). */
export const settled = (e: EventView): boolean =>
  e.verification?.job_state === 'done' || e.verification?.job_state === 'dead';
