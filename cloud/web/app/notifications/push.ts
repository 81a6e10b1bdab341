import { api } from '../api/http.js';
import type { PushTokenJson } from '../api/types.js';

/**
 * Web Push on this browser: the service worker's PushManager subscribes with the collector's VAPID public key, and
 * the subscription is registered with POST /v1/push/tokens (platform webpush). The registration's id is kept in
 * localStorage to recognise this browser's row among the tenant's registrations (it is not a secret).
 */
const ID_KEY = 'vigil.push.id';

export type PushSupport = 'supported' | 'insecure' | 'unsupported';

export function pushSupport(): PushSupport {
  if (!window.isSecureContext) return 'insecure';
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window))
    return 'unsupported';
  return 'supported';
}

export function base64UrlToBytes(s: string): Uint8Array<ArrayBuffer> {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function storedRegistrationId(): string | null {
  try {
    return localStorage.getItem(ID_KEY);
  } catch {
    return null;
  }
}

function storeRegistrationId(id: string | null): void {
  try {
    if (id) localStorage.setItem(ID_KEY, id);
    else localStorage.removeItem(ID_KEY);
  } catch {
    // Without storage the row is found again by re-registering (same endpoint → same row).
  }
}

export async function currentSubscription(): Promise<PushSubscription | null> {
  if (pushSupport() !== 'supported') return null;
  const reg = await navigator.serviceWorker.ready;
  return reg.pushManager.getSubscription();
}

/** A name for this browser in the registrations list, e.g. "Chrome on Android". */
export function browserLabel(ua = navigator.userAgent): string {
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Mac OS X/.test(ua)
        ? 'macOS'
        : /Windows/.test(ua)
          ? 'Windows'
          : /Linux/.test(ua)
            ? 'Linux'
            : 'this device';
  return `${browser} on ${os}`;
}

export class PushBlockedError extends Error {}

export async function enablePush(): Promise<PushTokenJson> {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted')
    throw new PushBlockedError(
      permission === 'denied'
        ? "Notifications are blocked for this site. Allow them in the browser's site settings, then try again."
        : 'Notifications were not allowed. Press the button again and choose Allow.',
    );
  const { public_key } = await api.get<{ public_key: string }>('/v1/push/vapid-public-key');
  const reg = await navigator.serviceWorker.ready;
  let sub = await reg.pushManager.getSubscription();
  if (sub) {
    // A subscription made with another key (the collector's VAPID keys changed) cannot receive our pushes.
    const key = sub.options.applicationServerKey;
    const want = base64UrlToBytes(public_key);
    const same = key !== null && key.byteLength === want.length && new Uint8Array(key).every((b, i) => b === want[i]);
    if (!same) {
      await sub.unsubscribe();
      sub = null;
    }
  }
  sub ??= await reg.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: base64UrlToBytes(public_key),
  });
  const token = await api.post<PushTokenJson>('/v1/push/tokens', {
    platform: 'webpush',
    subscription: sub.toJSON(),
    app_id: 'vigil-web',
    device_label: browserLabel(),
  });
  storeRegistrationId(token.id);
  return token;
}

export async function disablePush(): Promise<void> {
  const sub = await currentSubscription();
  const id = storedRegistrationId();
  if (id) {
    await api.del(`/v1/push/tokens/${encodeURIComponent(id)}`).catch((err: unknown) => {
      // Already gone on the collector: nothing left to undo there.
      if (!(err instanceof Error && 'status' in err && (err as { status: number }).status === 404)) throw err;
    });
  }
  storeRegistrationId(null);
  await sub?.unsubscribe();
}

export interface TestResult {
  id: string;
  status: string;
  http_status: number | null;
  reason: string | null;
}

export function sendTest(id: string): Promise<TestResult> {
  return api.post<TestResult>(`/v1/push/tokens/${encodeURIComponent(id)}/test`);
}
