/**
 * What the collector's Web Push carries (cloud/push/webpush.ts `payload()`) and how the service worker turns it
 * into a notification. Pure and free of DOM types, so the service worker, the app and node tests share it.
 */
export interface PushPayload {
  title: string;
  body: string;
  event_id: string;
  review_id?: string;
  /** Signed, expiring link to the event's thumbnail (absolute URL). */
  thumbnail_url?: string;
  /** Collapse id: a newer push with the same tag replaces the shown notification. */
  tag?: string;
  /** An update of an earlier push: replace it quietly. */
  update?: boolean;
  unverified?: boolean;
}

export interface NotificationPlan {
  title: string;
  options: {
    body: string;
    tag: string;
    icon: string;
    badge: string;
    image?: string;
    renotify: boolean;
    silent: boolean;
    timestamp: number;
    data: { url: string; event_id: string; review_id: string | null };
  };
}

const str = (v: unknown, max: number): string | undefined =>
  typeof v === 'string' && v.length > 0 ? v.slice(0, max) : undefined;

/** The payload of a push, or null when it is not one of ours (the worker then shows a generic notice). */
export function parsePushPayload(text: string | null | undefined): PushPayload | null {
  if (!text) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const title = str(o.title, 120);
  const eventId = str(o.event_id, 128);
  if (!title || !eventId) return null;
  const p: PushPayload = { title, body: str(o.body, 1000) ?? '', event_id: eventId };
  const review = str(o.review_id, 128);
  if (review) p.review_id = review;
  const thumb = str(o.thumbnail_url, 2048);
  if (thumb && /^https?:\/\//.test(thumb)) p.thumbnail_url = thumb;
  const tag = str(o.tag, 256);
  if (tag) p.tag = tag;
  if (o.update === true) p.update = true;
  if (typeof o.unverified === 'boolean') p.unverified = o.unverified;
  return p;
}

/** The app page a notification opens: the review item when the push is about one, else the event. */
export function pathForPush(p: Pick<PushPayload, 'event_id' | 'review_id'>): string {
  if (p.review_id) return `/review/${encodeURIComponent(p.review_id)}`;
  // The collector's test notification (POST /v1/push/tokens/{id}/test) is about no event.
  if (p.event_id === 'test') return '/notifications';
  return `/events/${encodeURIComponent(p.event_id)}`;
}

/** Notification for a push: tag = the collapse id (the event id, or the review item's id), thumbnail as image. */
export function planNotification(
  p: PushPayload,
  icons: { icon: string; badge: string },
  now: number,
): NotificationPlan {
  const body = p.unverified ? `${p.body}${p.body ? '\n' : ''}Not verified by the vision check yet.` : p.body;
  return {
    title: p.title,
    options: {
      body,
      tag: p.tag ?? p.review_id ?? p.event_id,
      icon: p.thumbnail_url ?? icons.icon,
      badge: icons.badge,
      ...(p.thumbnail_url ? { image: p.thumbnail_url } : {}),
      renotify: !p.update,
      silent: p.update === true,
      timestamp: now,
      data: { url: pathForPush(p), event_id: p.event_id, review_id: p.review_id ?? null },
    },
  };
}
