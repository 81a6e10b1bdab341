import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { connectivity, retryNow } from '../state/connectivity.js';
import { liveStatus } from '../state/live.js';
import { isAdmin, logout, session } from '../state/session.js';
import { useStore } from '../state/store.js';
import { reviewCounts } from '../state/review-counts.js';
import { unread } from '../state/unread.js';
import { Link, useRoute } from '../router.js';

/**
 * The frame around every signed-in screen: skip link, header with the navigation (a bottom bar on phones), the
 * connection banner, and <main> whose heading takes the focus after each navigation (screen readers hear the page).
 */
function OfflineBanner(): JSX.Element | null {
  const c = useStore(connectivity);
  const [, tick] = useState(0);
  useEffect(() => {
    if (c.reachable) return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [c.reachable]);
  if (c.reachable) return null;
  const secs = c.retryAt === null ? 0 : Math.max(0, Math.ceil((c.retryAt - Date.now()) / 1000));
  const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
  return (
    <div class="banner banner-offline" role="status">
      <span>
        {offline ? 'You are offline.' : 'The collector cannot be reached.'}{' '}
        {secs > 0 ? `Retrying in ${secs} s.` : 'Retrying…'}
      </span>
      <button type="button" class="button button-small" onClick={retryNow}>
        Retry now
      </button>
    </div>
  );
}

function LiveBadge(): JSX.Element {
  const s = useStore(liveStatus);
  const text = s === 'live' ? 'Live' : s === 'off' ? 'Not live' : s === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <span class={`live live-${s}`} role="status" aria-live="polite">
      <span class="live-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function NavLink(props: { href: string; label: string; badge?: number; badgeWord?: string; current: boolean }) {
  const { href, label, badge, badgeWord = 'unread', current } = props;
  return (
    <li>
      <Link href={href} class="nav-link" aria-current={current ? 'page' : undefined}>
        {label}
        {badge ? (
          <>
            <span class="badge" aria-hidden="true">
              {badge > 99 ? '99+' : badge}
            </span>
            <span class="visually-hidden">
              , {badge} {badgeWord}
            </span>
          </>
        ) : null}
      </Link>
    </li>
  );
}

/** The path the browser opened: its heading is not focused (the person has not navigated yet). */
let openedPage: string | null = typeof window === 'undefined' ? null : window.location.pathname;

export function Layout({ title, children }: { title: string; children: ComponentChildren }): JSX.Element {
  const s = useStore(session);
  const route = useRoute();
  const unreadIds = useStore(unread);
  const counts = useStore(reviewCounts);
  const heading = useRef<HTMLHeadingElement>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    document.title = `${title} · Vigil`;
  }, [title]);
  useEffect(() => {
    // After a navigation (not on the page the browser opened), the focus goes to the new page's heading.
    if (openedPage !== route.location.path) heading.current?.focus();
    openedPage = null;
  }, [route.location.path]);
  const page = route.page;
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link href="/review" class="brand" aria-label="Vigil, review">
          <img class="brand-mark" src="/icons/icon.svg" alt="" width="28" height="28" />
          Vigil
        </Link>
        <LiveBadge />
        {s.status === 'signed-in' && (
          <div class="account">
            <span class="account-email" title={`${s.user.email} (${s.user.role})`}>
              {s.user.email}
            </span>
            <button
              type="button"
              class="button button-small button-quiet"
              disabled={busy}
              onClick={() => {
                setBusy(true);
                void logout().finally(() => setBusy(false));
              }}
            >
              Sign out
            </button>
          </div>
        )}
      </header>
      <nav class="nav" aria-label="Main">
        <ul>
          <NavLink
            href="/review"
            label="Review"
            badge={counts.alert ?? 0}
            badgeWord="alerts to review"
            current={page === 'review' || page === 'reviewItem'}
          />
          <NavLink
            href="/events"
            label="Events"
            badge={unreadIds.size}
            current={page === 'events' || page === 'event'}
          />
          <NavLink href="/devices" label="Devices" current={page === 'devices'} />
          {isAdmin(s) && <NavLink href="/add-box" label="Add a box" current={page === 'addBox'} />}
          <NavLink href="/notifications" label="Notifications" current={page === 'notifications'} />
        </ul>
      </nav>
      <OfflineBanner />
      <main id="main" class="main">
        <h1 class="page-title" tabIndex={-1} ref={heading}>
          {title}
        </h1>
        {children}
      </main>
    </div>
  );
}
