import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { assetPath } from '../../../shared/paths/index.js';
import { buildWebApp, type WebBuildResult } from '../../web/build/build.js';
import { sqliteBackend } from '../support/backends.js';
import { pairTestBox, type TestBox } from '../support/box.js';
import { startTestCloud, type TestCloud } from '../support/cloud.js';
import { LlmTestServer, type AnswerBody } from '../support-llm/llm-server.js';
import { vapidTestKeys } from '../support-push/keys.js';
import { WebPushTestServer } from '../support-push/webpush-server.js';

/**
 * What the browser tests run against: the web app built as `npm run build` builds it (into dist/web, which the
 * collector serves), a real collector on SQLite with Web Push configured (VAPID keys made here), two owners (tenant
 * "default" admin and a reader, tenant "acme" admin), a paired box per tenant, and event pictures cut from the
 * shared test stills the way the agent cuts them (the detection's box plus 15 % each side, at most 320 px).
 * Verify-then-notify: the local vision LLM (cloud/test/support-llm) sees a dog in every picture, so dogs are verified
 * (and pushed to a phone registered on a local Web Push service, cloud/test/support-push), the other notify labels
 * (person, car: the config's labels merge with the defaults) rejected, labels outside them (bicycle) skipped.
 */
export const PASSWORD = 'a long test password';
export const OWNER = 'owner@example.com';
export const READER = 'viewer@example.com';
export const ACME = 'owner@acme.example';

export interface Picture {
  jpeg: Buffer;
  /** The detection's box, normalised, as the event carries it. */
  box: [number, number, number, number];
  label: string;
}

export interface WebEnv {
  t: TestCloud;
  url: string;
  build: WebBuildResult;
  box: TestBox;
  acmeBox: TestBox;
  vapidPublicKey: string;
  llm: LlmTestServer;
  pushService: WebPushTestServer;
  /** The phone's registration id (pt_…), registered as the app on a phone would. */
  phoneId: string;
  pictures: { dog: Picture; car: Picture; person: Picture; bicycle: Picture };
  close(): Promise<void>;
}

/** The agent's crop (agent/thumbnail/encode.ts cropBox, margin 0.15) of a still, as a JPEG of ≤ 320 px. */
export async function cropPicture(file: string, label: string, px: [number, number, number, number]): Promise<Picture> {
  const path = assetPath('media', file);
  if (!existsSync(path)) throw new Error(`test asset missing: ${path} (set VIGIL_ASSETS or put ../shared beside)`);
  const img = sharp(path);
  const { width = 0, height = 0 } = await img.metadata();
  const [x1, y1, x2, y2] = px;
  const mx = (x2 - x1) * 0.15;
  const my = (y2 - y1) * 0.15;
  const left = Math.max(0, Math.round(x1 - mx));
  const top = Math.max(0, Math.round(y1 - my));
  const right = Math.min(width, Math.round(x2 + mx));
  const bottom = Math.min(height, Math.round(y2 + my));
  const jpeg = await sharp(path)
    .extract({ left, top, width: right - left, height: bottom - top })
    .resize({ width: 320, height: 320, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 80 })
    .toBuffer();
  return { jpeg, box: [x1 / width, y1 / height, x2 / width, y2 / height], label };
}

/** What the local vision LLM answers about every picture it is shown. */
export const DOG_ANSWER: AnswerBody = {
  label: 'dog',
  confidence: 0.94,
  summary: 'A dog sits on the porch',
  threat: 0,
  agrees_with_edge: true,
};

export async function startWebEnv(): Promise<WebEnv> {
  const build = await buildWebApp();
  const keys = vapidTestKeys();
  const llm = await LlmTestServer.start({ models: ['vision-1'] });
  llm.setDefault({ kind: 'answer', answer: DOG_ANSWER });
  const pushService = await WebPushTestServer.start();
  const t = await startTestCloud(sqliteBackend, {
    overrides: {
      accounts: { scrypt: { cost_log2: 14 }, login: { source_burst: 100, account_burst: 100 } },
      reclassify: { providers: [{ kind: 'openai', base_url: llm.url, model: 'vision-1' }], budget: '5s' },
      notify: { labels: { dog: {} }, thumbnail_wait: '5s' },
      queue: { poll: '100ms', lease: '2s', backoff_base: '200ms', backoff_max: '1s' },
      push: {
        webpush: { subject: 'mailto:ops@example.com', public_key: keys.publicKey, private_key: keys.privateKey },
        backoff_base: '100ms',
      },
    },
  }).catch(async (err: unknown) => {
    await Promise.all([llm.close(), pushService.close()]);
    throw err;
  });
  const closeAll = async (): Promise<void> => {
    await t.close();
    await Promise.all([llm.close(), pushService.close()]);
  };
  try {
    // A phone with the app (its push service is local, http: so it goes in through the store, as the notify tests
    // do — the API takes https push services only).
    const sub = pushService.subscribe(keys.publicKey);
    const phone = await t.db.store.upsertPushToken({
      tenantId: 'default',
      platform: 'webpush',
      token: sub.endpoint,
      p256dh: sub.keys.p256dh,
      auth: sub.keys.auth,
      deviceLabel: 'Pixel phone',
      now: Date.now(),
    });
    const admin = t.cloud.accounts.admin;
    await admin.create({ email: OWNER, tenantId: 'default', role: 'admin', password: PASSWORD });
    await admin.create({ email: READER, tenantId: 'default', role: 'reader', password: PASSWORD });
    await admin.create({ email: ACME, tenantId: 'acme', role: 'admin', password: PASSWORD });
    const box = await pairTestBox(t, 'driveway');
    const acmeBox = await pairTestBox(t, 'acme-gate', t.tokens.otherTenant);
    const pictures = {
      dog: await cropPicture('dog.jpg', 'dog', [133, 207, 325, 542]),
      car: await cropPicture('dog.jpg', 'car', [467, 78, 692, 172]),
      bicycle: await cropPicture('dog.jpg', 'bicycle', [46, 132, 572, 431]),
      person: await cropPicture('kite.jpg', 'person', [210, 687, 276, 872]),
    };
    return {
      t,
      url: t.url,
      build,
      box,
      acmeBox,
      vapidPublicKey: keys.publicKey,
      llm,
      pushService,
      phoneId: phone.record.id,
      pictures,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Posts an event with its picture through the signed ingest, as a box does (and its end); returns the event id. */
export async function postEvent(
  box: TestBox,
  p: Picture,
  o: { camera?: string; startedAt?: number; ended?: boolean; zones?: string[] } = {},
): Promise<string> {
  const started = o.startedAt ?? Date.now();
  const base = {
    camera: o.camera ?? 'front',
    label: p.label,
    score: 0.86,
    box: p.box,
    startedAt: started,
    ...(o.zones ? { zones: o.zones } : {}),
  };
  const id = await box.eventWithThumbnail(p.jpeg, base);
  if (o.ended) {
    const end = await box.send(box.event({ ...base, id, type: 'end', rev: 1, endedAt: started + 12_500 }));
    if (end.status !== 200) throw new Error(`end: ${end.status} ${JSON.stringify(end.body)}`);
  }
  return id;
}

/** Waits until verify-then-notify is done with an event: its verdict is in and its pushes are settled. */
export async function waitSettled(env: WebEnv, eventId: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    const e = (await (await env.t.api(`/v1/events/${eventId}`)).json()) as {
      verification: { status: string; job_state: string | null } | null;
      push_deliveries: Array<{ status: string }>;
    };
    last = e.verification;
    const done = e.verification?.job_state === 'done' || e.verification?.status === 'skipped';
    if (done && e.push_deliveries.every((d) => d.status !== 'retry')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`event ${eventId} not settled after ${timeoutMs} ms: ${JSON.stringify(last)}`);
}
