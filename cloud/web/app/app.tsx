import type { ComponentType, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, setHttpHooks } from './api/http.js';
import { Layout } from './components/layout.js';
import { DevicesScreen } from './devices/devices-screen.js';
import { EventDetailScreen } from './events/event-detail.js';
import { EventsScreen } from './events/events-screen.js';
import { ReviewDetailScreen } from './reviews/review-detail.js';
import { ReviewScreen } from './reviews/review-screen.js';
import { LoginScreen } from './screens/login.js';
import { Link, navigate, useRoute } from './router.js';
import { connectivity, markReachable, markUnreachable, onReconnect, retryNow } from './state/connectivity.js';
import { loadDevices } from './state/devices.js';
import { onLive, startLive, stopLive } from './state/live.js';
import { loadReviewCounts } from './state/review-counts.js';
import { loadSession, session, sessionEnded } from './state/session.js';
import { useStore } from './state/store.js';
import { loadUnread } from './state/unread.js';

/**
 * The app: finds out who is signed in (GET /v1/session), sends everyone else to the login page (with the page they
 * wanted kept in ?next=), and shows the screen the URL names. Screens used less often (Add a box with its QR
 * encoder, Notifications) load on demand.
 */
setHttpHooks({ onUnauthorized: sessionEnded, onUnreachable: markUnreachable, onReachable: markReachable });
onLive((m) => {
  if (m.type === 'closed') sessionEnded(new ApiError(401, m.code, m.message, null));
});

function useLazy<P>(load: () => Promise<ComponentType<P>>): ComponentType<P> | null {
  const [C, setC] = useState<ComponentType<P> | null>(null);
  useEffect(() => {
    let live = true;
    load().then(
      (c) => live && setC(() => c),
      () => live && markUnreachable(),
    );
    return () => {
      live = false;
    };
  }, []);
  return C;
}

function Lazy<P extends object>({
  load,
  props,
  title,
}: {
  load: () => Promise<ComponentType<P>>;
  props: P;
  title: string;
}) {
  const C = useLazy(load);
  return C ? (
    <C {...props} />
  ) : (
    <Layout title={title}>
      <p class="muted">Loading…</p>
    </Layout>
  );
}

const loadAddBox = () => import('./devices/add-box-screen.js').then((m) => m.AddBoxScreen);
const loadNotifications = () => import('./notifications/notifications-screen.js').then((m) => m.NotificationsScreen);

function Unreachable(): JSX.Element {
  return (
    <main id="main" class="login">
      <div class="login-card">
        <h1>Vigil is offline</h1>
        <p class="notice notice-warn" role="status">
          {navigator.onLine ? 'The collector cannot be reached.' : 'You are offline.'} Vigil keeps retrying and opens as
          soon as it answers.
        </p>
        <button type="button" class="button" onClick={retryNow}>
          Retry now
        </button>
      </div>
    </main>
  );
}

function NotFoundScreen(): JSX.Element {
  return (
    <Layout title="Page not found">
      <p>
        There is no such page. <Link href="/review">Go to the review</Link>.
      </p>
    </Layout>
  );
}

export function App(): JSX.Element {
  const s = useStore(session);
  const reach = useStore(connectivity);
  const route = useRoute();
  useEffect(() => {
    void loadSession();
    return onReconnect(() => {
      if (session.get().status !== 'signed-in') void loadSession();
    });
  }, []);
  useEffect(() => {
    if (s.status === 'signed-in') {
      startLive();
      void loadDevices();
      void loadReviewCounts();
      void loadUnread();
    } else stopLive();
  }, [s.status]);

  const here = route.location.path + route.location.search;
  useEffect(() => {
    if (s.status === 'signed-out' && route.page !== 'login')
      navigate(`/login${route.page === 'home' ? '' : `?next=${encodeURIComponent(here)}`}`, { replace: true });
    if (s.status === 'signed-in' && (route.page === 'login' || route.page === 'home')) {
      const next = route.search.get('next');
      navigate(next?.startsWith('/') && !next.startsWith('//') ? next : '/review', { replace: true });
    }
  }, [s.status, route.page, here]);

  if (s.status === 'loading') return <p class="boot">Loading Vigil…</p>;
  if (s.status === 'unknown' || (s.status !== 'signed-in' && !reach.reachable && route.page !== 'login'))
    return <Unreachable />;
  if (s.status === 'signed-out' || route.page === 'login')
    return (
      <LoginScreen
        message={s.status === 'signed-out' ? s.message : null}
        onSignedIn={() => {
          /* the effect above moves on once the session store says signed-in */
        }}
      />
    );
  switch (route.page) {
    case 'review':
    case 'home':
      return <ReviewScreen />;
    case 'reviewItem':
      return <ReviewDetailScreen id={route.params.id!} />;
    case 'events':
      return <EventsScreen />;
    case 'event':
      return <EventDetailScreen id={route.params.id!} />;
    case 'devices':
      return <DevicesScreen />;
    case 'addBox':
      return <Lazy load={loadAddBox} props={{}} title="Add a box" />;
    case 'notifications':
      return <Lazy load={loadNotifications} props={{}} title="Notifications" />;
    default:
      return <NotFoundScreen />;
  }
}
