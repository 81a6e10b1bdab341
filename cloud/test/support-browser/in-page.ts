/**
 * Scripts the browser tests run inside the page, as source text: the test files are type-checked for Node (no DOM
 * library), and these run in Chromium, so they stay strings here, each one small and named for what it answers.
 */
export const inPage = {
  /** Resolves once every <img> of the page has decoded (screenshots show pictures, not blanks). */
  imagesDecoded: 'Promise.all([...document.images].map((i) => i.decode().catch(() => undefined)))',
  /** The events list shows `n` cards and is not loading. */
  cardCount: (n: number): string =>
    `document.querySelectorAll('.cards [data-event-id]').length === ${n} && ` +
    "!document.querySelector('[aria-busy=true]')",
  /** The detail's picture has loaded with real pixels. */
  cropLoaded:
    "(() => { const i = document.querySelector('.crop img'); return !!i && i.complete && i.naturalWidth > 0; })()",
  /** The service worker is active and controls the page. */
  swControls: `(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller)
      await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
    return true;
  })()`,
  /** The notifications the service worker shows, or null when none. */
  notifications: `(async () => {
    const list = await (await navigator.serviceWorker.ready).getNotifications();
    const shown = list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, image: n.image, data: n.data }));
    return shown.length ? shown : null;
  })()`,
  /** What page scripts can read of cookies and storage. */
  readable:
    '({ cookie: document.cookie, local: JSON.stringify({ ...localStorage }), ' +
    'session: JSON.stringify({ ...sessionStorage }) })',
  /** The focused element is a heading. */
  headingFocused: "document.activeElement !== null && document.activeElement.tagName === 'H1'",
  /** Two animation frames: layout and paint after a viewport change. */
  twoFrames: 'new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))',
  /** The focused element as "tag:name". */
  focused: `(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'body';
    const label = el.getAttribute('aria-label') ?? el.textContent ?? '';
    return el.tagName.toLowerCase() + ':' + label.trim().replace(/\\s+/g, ' ').slice(0, 60);
  })()`,
  /** GET /v1/session from the page (with its cookie): the status. */
  sessionStatus: "fetch('/v1/session').then((r) => r.status)",
};

/** Scripts run inside the service worker. */
export const inWorker = {
  /** Dispatches notificationclick for the first shown notification, as the system does when it is tapped. */
  clickFirstNotification: `(async () => {
    const [n] = await self.registration.getNotifications();
    if (!n) throw new Error('no notification shown');
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
    return n.data;
  })()`,
};
