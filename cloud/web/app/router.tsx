import type { ComponentChildren, JSX } from 'preact';
import { matchPath, type Match } from '../shared/routes.js';
import { createStore, useStore } from './state/store.js';

/**
 * History-API routing over the pages in shared/routes.ts. `<Link>` keeps clicks inside the app; the service worker
 * asks an open window to show an event with a `vigil:open` message (notification click).
 */
export interface Location {
  path: string;
  search: string;
}

const current = (): Location => ({ path: window.location.pathname, search: window.location.search });
export const location = createStore<Location>(current());

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = new URL(to, window.location.origin);
  if (url.origin !== window.location.origin) return;
  const next = url.pathname + url.search;
  if (next === window.location.pathname + window.location.search) return;
  if (opts.replace) window.history.replaceState(null, '', next);
  else window.history.pushState(null, '', next);
  location.set(current());
}

window.addEventListener('popstate', () => location.set(current()));
navigator.serviceWorker?.addEventListener('message', (e: MessageEvent) => {
  const d = e.data as { type?: unknown; path?: unknown } | null;
  if (d?.type === 'vigil:open' && typeof d.path === 'string' && d.path.startsWith('/')) navigate(d.path);
});

export function useRoute(): Match & { search: URLSearchParams; location: Location } {
  const loc = useStore(location);
  return { ...matchPath(loc.path), search: new URLSearchParams(loc.search), location: loc };
}

type AnchorProps = JSX.HTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren };

export function Link({ href, children, onClick, ...rest }: AnchorProps): JSX.Element {
  const click = (e: JSX.TargetedMouseEvent<HTMLAnchorElement>): void => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={click} {...rest}>
      {children}
    </a>
  );
}
