import { Type, type Static } from '@sinclair/typebox';
import { createHash } from 'node:crypto';
import { validator } from '../../shared/schema/index.js';
import { VigilError } from '../errors.js';

/**
 * What a push carries, the same for every platform. The policy that decides *whether* an event deserves a push
 * lives upstream (reclassify/); the senders here only deliver.
 */
export const NotificationSchema = Type.Object(
  {
    event_id: Type.String({ minLength: 1, maxLength: 128, description: 'Event this push is about; the app opens it.' }),
    review_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'Review item this push is about (then event_id is its best object); the app opens the item.',
      }),
    ),
    title: Type.String({ minLength: 1, maxLength: 50, description: 'Lock-screen title, e.g. "Person at Front door".' }),
    body: Type.String({ maxLength: 1000, description: 'Lock-screen text.' }),
    thumbnail_url: Type.String({
      format: 'uri',
      description: 'Where the app fetches the thumbnail (the app authenticates itself).',
    }),
    collapse_id: Type.String({
      minLength: 1,
      maxLength: 256,
      description:
        'Newer pushes with the same id replace older ones on the phone (normally the event id). Shortened per ' +
        'platform: APNs ≤ 64 bytes, Web Push Topic ≤ 32 base64url chars.',
    }),
    priority: Type.Union([Type.Literal('high'), Type.Literal('normal')], {
      description:
        'high: deliver now, wake the phone (APNs 10, FCM HIGH, Web Push Urgency high). normal: power-friendly ' +
        'delivery (APNs 5, FCM NORMAL, Urgency normal).',
    }),
    unverified: Type.Optional(
      Type.Boolean({
        description:
          'True when the vision re-check has not confirmed the detection (yet); the app may show it differently.',
      }),
    ),
    update: Type.Optional(
      Type.Boolean({
        description:
          'True when this push updates an earlier one with the same collapse id (more objects joined a review ' +
          'item): it replaces that notification quietly (no sound) instead of alerting again.',
      }),
    ),
    thread_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'Groups notifications on the phone (e.g. per camera). Default "vigil".',
      }),
    ),
  },
  { additionalProperties: false, description: 'One push notification.' },
);
export type Notification = Static<typeof NotificationSchema>;
export const notificationValidator = validator(NotificationSchema, {
  code: 'push_notification_invalid',
  registry: VigilError,
});

export type Platform = 'apns' | 'fcm' | 'webpush';
export const PLATFORMS: readonly Platform[] = ['apns', 'fcm', 'webpush'];

export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** Where one push goes. `id` is the caller's handle (e.g. the stored token row) and comes back in the result. */
export type PushTarget =
  | { id?: string; platform: 'apns'; token: string }
  | { id?: string; platform: 'fcm'; token: string }
  | { id?: string; platform: 'webpush'; subscription: WebPushSubscription };

export type PushStatus = 'sent' | 'invalid_token' | 'retry' | 'failed';

/**
 * Result of one delivery attempt (or of the last attempt, from PushService).
 * - sent: the provider accepted it.
 * - invalid_token: the token/subscription is gone or wrong; the caller prunes it.
 * - retry: transient (429, 5xx, network); `retryAfterMs` when the provider said how long to wait.
 * - failed: will not succeed by repeating (bad credentials, bad payload, platform not configured).
 */
export interface PushOutcome {
  status: PushStatus;
  /** HTTP status of the provider's answer; null when none came (network error, not configured). */
  httpStatus: number | null;
  /** Provider's reason (APNs `reason`, FCM `errorCode`/status) or a local code; undefined when sent. */
  reason?: string;
  retryAfterMs?: number;
  /** Provider's id of the accepted message (APNs apns-id, FCM message name, Web Push Location). */
  providerId?: string;
}

export interface PushSender {
  readonly platform: Platform;
  /** Delivers one notification to one target; never throws for provider or network failures. */
  send(target: PushTarget, notification: Notification): Promise<PushOutcome>;
  /** Closes long-lived connections. */
  close(): Promise<void>;
}

/** Collapse id for APNs: at most 64 bytes; longer ids are replaced by their SHA-256 (hex, 64 chars). */
export function apnsCollapseId(id: string): string {
  return Buffer.byteLength(id, 'utf8') <= 64 ? id : createHash('sha256').update(id).digest('hex');
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Web Push Topic (RFC 8030 §5.4): at most 32 characters of the base64url alphabet. Event ids (`evt_` + ULID,
 * 30 chars) fit as they are; anything else becomes the first 32 characters of its SHA-256 in base64url.
 */
export function webPushTopic(id: string): string {
  if (id.length <= 32 && BASE64URL.test(id)) return id;
  return createHash('sha256').update(id).digest('base64url').slice(0, 32);
}

/** A short, non-reversible name of a device token for logs (tokens are credentials of a sort). */
export function tokenHint(target: PushTarget): string {
  const raw = target.platform === 'webpush' ? target.subscription.endpoint : target.token;
  return createHash('sha256').update(raw).digest('hex').slice(0, 12);
}
