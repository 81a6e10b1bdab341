/// <reference lib="webworker" />
import { parsePushPayload, planNotification } from '../shared/push-payload.js';

/**
 * Vigil's service worker: keeps the app shell (index.html, the hashed bundle, CSS, icons, manifest) so the app opens
 * without the network and says it is offline; shows Web Push notifications (title, body, the event's thumbnail,
 * tag = the push's collapse id so one event's pushes replace each other) and opens the event on click.
 * The API (/v1/…) is never cached: what the app shows is live or marked as offline.
 */
declare const self: ServiceWorkerGlobalScope;
declare const __APP_SHELL__: string[];
declare const __APP_VERSION__: string;

const CACHE = `vigil-shell-${__APP_VERSION__}`;
const SHELL = __APP_SHELL__;
const asset = (pattern: RegExp, fallback: string): string => SHELL.find((p) => pattern.test(p)) ?? fallback;
const ICONS = { icon: asset(/icon-192-/, '/manifest.webmanifest'), badge: asset(/badge-96-/, '') };

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL.map((p) => new Request(p, { cache: 'reload' })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys())
        if (key.startsWith('vigil-shell-') && key !== CACHE) await caches.delete(key);
      await self.clients.claim();
    })(),
  );
});

async function navigation(request: Request): Promise<Response> {
  try {
    return await fetch(request);
  } catch {
    // Offline (or the collector is down): the cached shell; the app shows the offline banner itself.
    const cached = await caches.match('/', { cacheName: CACHE });
    return cached ?? Response.error();
  }
}

async function cacheFirst(request: Request): Promise<Response> {
  const cached = await caches.match(request, { cacheName: CACHE });
  return cached ?? fetch(request);
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith('/v1/')) return;
  if (req.mode === 'navigate') event.respondWith(navigation(req));
  else if (url.pathname.startsWith('/assets/') || url.pathname === '/manifest.webmanifest')
    event.respondWith(cacheFirst(req));
});

self.addEventListener('push', (event) => {
  const payload = parsePushPayload(event.data?.text());
  const shown = payload
    ? (() => {
        const plan = planNotification(payload, ICONS, Date.now());
        return self.registration.showNotification(plan.title, plan.options);
      })()
    : self.registration.showNotification('Vigil', {
        body: 'Something happened on one of your cameras.',
        tag: 'vigil',
        icon: ICONS.icon,
        data: { url: '/events' },
      });
  event.waitUntil(shown);
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data as { url?: unknown } | null;
  const path = typeof data?.url === 'string' && data.url.startsWith('/') ? data.url : '/events';
  const target = new URL(path, self.location.origin).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const w of windows) {
        if (new URL(w.url).origin !== self.location.origin) continue;
        // The open app routes itself (no reload); see app/router.ts.
        w.postMessage({ type: 'vigil:open', path });
        await w.focus().catch(() => undefined); // focus needs the click's activation; the page moved anyway
        return;
      }
      await self.clients.openWindow(target);
    })(),
  );
});
