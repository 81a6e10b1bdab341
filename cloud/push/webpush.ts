import webpush from 'web-push';
import { Agent, request, type Dispatcher } from 'undici';
import { describeError } from '../../shared/errors/index.js';
import { systemClock, type Clock } from '../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import {
  tokenHint,
  webPushTopic,
  type Notification,
  type PushOutcome,
  type PushSender,
  type PushTarget,
} from './notification.js';
import { parseRetryAfter } from './retry-after.js';

/**
 * Web Push (RFC 8030) to a browser's push service: `web-push` builds the request — VAPID authorization (RFC 8292)
 * and the aes128gcm-encrypted payload (RFC 8291) — and the request itself goes out through undici, so retries and
 * timeouts follow the same rules as the other senders.
 */
export interface WebPushSenderOptions {
  subject: string;
  publicKey: string;
  privateKey: string;
  ttlMs?: number;
  timeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** Largest aes128gcm body push services must accept (RFC 8030 §7.2); the JSON payload must fit in it. */
export const WEBPUSH_MAX_RECORD = 4096;

export class WebPushSender implements PushSender {
  readonly platform = 'webpush' as const;
  private readonly dispatcher: Agent;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly options: WebPushSenderOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger();
    this.dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 8 });
  }

  /** The JSON the service worker receives in its `push` event. */
  payload(n: Notification): Record<string, unknown> {
    return {
      title: n.title,
      body: n.body,
      event_id: n.event_id,
      ...(n.review_id !== undefined ? { review_id: n.review_id } : {}),
      thumbnail_url: n.thumbnail_url,
      // showNotification({tag}) replaces the shown notification with the same tag; renotify false keeps it quiet.
      tag: n.collapse_id,
      ...(n.update ? { update: true, renotify: false } : {}),
      ...(n.unverified !== undefined ? { unverified: n.unverified } : {}),
    };
  }

  async send(target: PushTarget, n: Notification): Promise<PushOutcome> {
    if (target.platform !== 'webpush') return { status: 'failed', httpStatus: null, reason: 'wrong_platform' };
    let details: webpush.RequestDetails;
    try {
      details = webpush.generateRequestDetails(target.subscription, JSON.stringify(this.payload(n)), {
        vapidDetails: {
          subject: this.options.subject,
          publicKey: this.options.publicKey,
          privateKey: this.options.privateKey,
        },
        TTL: Math.floor((this.options.ttlMs ?? 3_600_000) / 1000),
        urgency: n.priority === 'high' ? 'high' : 'normal',
        topic: webPushTopic(n.collapse_id),
        contentEncoding: 'aes128gcm',
      });
    } catch (err) {
      // web-push validates the subscription keys: a subscription it cannot encrypt for is useless.
      const message = describeError(err);
      const badSubscription = /p256dh|auth|endpoint|subscription/i.test(message);
      this.log.warn({ token: tokenHint(target), err: message }, 'web push request cannot be built');
      return {
        status: badSubscription ? 'invalid_token' : 'failed',
        httpStatus: null,
        reason: badSubscription ? 'invalid_subscription' : 'request_build_failed',
      };
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(details.headers)) {
      // undici sets Content-Length from the body itself.
      if (k.toLowerCase() !== 'content-length' && v !== undefined) headers[k] = String(v);
    }
    let res: Dispatcher.ResponseData;
    let text: string;
    try {
      const timeout = this.options.timeoutMs ?? 10_000;
      res = await request(details.endpoint, {
        method: 'POST',
        headers,
        body: details.body ?? Buffer.alloc(0),
        headersTimeout: timeout,
        bodyTimeout: timeout,
        dispatcher: this.dispatcher,
      });
      text = await res.body.text();
    } catch (err) {
      this.log.warn({ token: tokenHint(target), err: describeError(err) }, 'web push request failed');
      return { status: 'retry', httpStatus: null, reason: 'connection_error' };
    }
    const s = res.statusCode;
    if (s >= 200 && s < 300) {
      const location = res.headers.location;
      return { status: 'sent', httpStatus: s, ...(typeof location === 'string' ? { providerId: location } : {}) };
    }
    const reason = reasonOf(text) ?? `http_${s}`;
    if (s === 404 || s === 410) {
      this.log.info({ token: tokenHint(target), status: s }, 'web push subscription gone');
      return { status: 'invalid_token', httpStatus: s, reason };
    }
    if (s === 429 || s >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], this.clock.now());
      return { status: 'retry', httpStatus: s, reason, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    }
    this.log.warn({ token: tokenHint(target), status: s, reason }, 'web push service refused the message');
    return { status: 'failed', httpStatus: s, reason };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** Push services answer errors as text or JSON ({reason} / {message}); keep a short reason either way. */
function reasonOf(text: string): string | undefined {
  const t = text.trim();
  if (!t) return undefined;
  try {
    const j = JSON.parse(t) as { reason?: unknown; message?: unknown; error?: unknown };
    for (const v of [j.reason, j.error, j.message]) if (typeof v === 'string') return v.slice(0, 200);
  } catch {
    /* plain text */
  }
  return t.slice(0, 200);
}
