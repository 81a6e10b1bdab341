/**
 * The app's pages. The collector answers each of these paths with index.html (cloud/server/web-app.ts), so a
 * reload or a link from a notification lands on the right screen; the app's router (app/router.ts) reads them.
 */
export const APP_PAGES = {
  login: '/login',
  review: '/review',
  reviewItem: '/review/:id',
  events: '/events',
  event: '/events/:id',
  devices: '/devices',
  addBox: '/add-box',
  notifications: '/notifications',
} as const;

export type PageName = keyof typeof APP_PAGES;

/** Fastify route patterns for the pages, plus the root. */
export const APP_ROUTE_PATTERNS: readonly string[] = ['/', ...Object.values(APP_PAGES)];

export interface Match {
  page: PageName | 'home' | 'not-found';
  params: Record<string, string>;
}

export function matchPath(path: string): Match {
  if (path === '/' || path === '') return { page: 'home', params: {} };
  const parts = path.replace(/\/+$/, '').split('/');
  for (const [page, pattern] of Object.entries(APP_PAGES) as Array<[PageName, string]>) {
    const want = pattern.split('/');
    if (want.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < want.length && ok; i++) {
      const w = want[i]!;
      const got = parts[i]!;
      if (w.startsWith(':')) {
        try {
          params[w.slice(1)] = decodeURIComponent(got);
        } catch {
          ok = false;
        }
        if (!got) ok = false;
      } else if (w !== got) ok = false;
    }
    if (ok) return { page, params };
  }
  return { page: 'not-found', params: {} };
}
