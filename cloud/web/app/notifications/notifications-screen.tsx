import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from '../api/http.js';
import type { DeviceJson, PushTokenJson } from '../api/types.js';
import { ErrorNotice } from '../components/error-notice.js';
import { Layout } from '../components/layout.js';
import { formatAgo } from '../format.js';
import { devices, loadDevices } from '../state/devices.js';
import { useStore } from '../state/store.js';
import { CameraSnoozes } from './camera-snoozes.js';
import { PreferencesEditor } from './preferences-form.js';
import { preferencesSummary } from './preferences.js';
import {
  currentSubscription,
  disablePush,
  enablePush,
  pushSupport,
  sendTest,
  storedRegistrationId,
  type TestResult,
} from './push.js';

/**
 * Notifications: turn Web Push on or off for this browser, send a test, see every registered phone and browser of
 * the account, and silence cameras for a while (the collector's camera snooze).
 */
function ThisBrowser({ onChange }: { onChange: () => void }): JSX.Element {
  const support = pushSupport();
  const [subscribed, setSubscribed] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [test, setTest] = useState<TestResult | null>(null);
  const [regId, setRegId] = useState<string | null>(storedRegistrationId());
  const refresh = useCallback(async () => {
    const sub = await currentSubscription().catch(() => null);
    setSubscribed(sub !== null && storedRegistrationId() !== null);
    setRegId(storedRegistrationId());
  }, []);
  useEffect(() => void refresh(), [refresh]);

  if (support === 'insecure')
    return <p class="notice notice-warn">Push needs a secure connection: open Vigil over https.</p>;
  if (support === 'unsupported')
    return (
      <p class="notice notice-warn">
        This browser cannot receive Web Push. On iPhone and iPad, add Vigil to the home screen first (Share → Add to
        Home Screen), then open it from there.
      </p>
    );
  const run = async (fn: () => Promise<unknown>): Promise<void> => {
    setBusy(true);
    setError(null);
    setTest(null);
    try {
      await fn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      await refresh();
      onChange();
    }
  };
  const permission = Notification.permission;
  return (
    <>
      <p role="status">
        {subscribed === null
          ? 'Checking…'
          : subscribed
            ? 'Notifications are on for this browser.'
            : permission === 'denied'
              ? "Notifications are blocked for this site in the browser's settings."
              : 'Notifications are off for this browser.'}
      </p>
      <div class="actions">
        {subscribed ? (
          <button type="button" class="button" disabled={busy} onClick={() => void run(disablePush)}>
            Turn off notifications on this browser
          </button>
        ) : (
          <button type="button" class="button button-primary" disabled={busy} onClick={() => void run(enablePush)}>
            Turn on notifications on this browser
          </button>
        )}
        {subscribed && regId && (
          <button
            type="button"
            class="button"
            disabled={busy}
            onClick={() => void run(async () => setTest(await sendTest(regId)))}
          >
            Send a test notification
          </button>
        )}
      </div>
      {test && (
        <p class={`notice ${test.status === 'sent' ? 'notice-ok' : 'notice-warn'}`} role="status">
          {test.status === 'sent'
            ? 'Test notification sent. It should appear in a few seconds.'
            : `The push service did not take it: ${test.status}${test.reason ? ` (${test.reason})` : ''}.`}
        </p>
      )}
      <ErrorNotice error={error} />
    </>
  );
}

function Registrations({ version, devices }: { version: number; devices: readonly DeviceJson[] }): JSX.Element {
  const [list, setList] = useState<PushTokenJson[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    try {
      setList((await api.get<{ push_tokens: PushTokenJson[] }>('/v1/push/tokens')).push_tokens);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);
  useEffect(() => void load(), [load, version]);
  const remove = async (id: string): Promise<void> => {
    try {
      await api.del(`/v1/push/tokens/${encodeURIComponent(id)}`);
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const saved = (t: PushTokenJson): void => setList((l) => l?.map((x) => (x.id === t.id ? { ...x, ...t } : x)) ?? l);
  const mine = storedRegistrationId();
  // This browser first: its settings are the ones most often changed here.
  const rows = list ? [...list].sort((a, b) => Number(b.id === mine) - Number(a.id === mine)) : null;
  return (
    <>
      <ErrorNotice error={error} onRetry={() => void load()} />
      {rows && rows.length === 0 && <p class="muted">No phone or browser receives notifications yet.</p>}
      {rows && rows.length > 0 && (
        <ul class="registrations">
          {rows.map((t) => {
            const name = t.device_label ?? t.platform;
            return (
              <li key={t.id} data-registration-id={t.id}>
                <div class="registration-head">
                  <span>
                    <strong>{name}</strong>
                    {t.id === mine ? ' (this browser)' : ''}
                    <span class="muted">
                      {' '}
                      · {t.platform} · last push {t.last_sent_at ? formatAgo(t.last_sent_at) : 'never'}
                      {t.last_status && t.last_status !== 'sent' ? ` · ${t.last_status}` : ''}
                    </span>
                  </span>
                  {t.id !== mine && (
                    <button type="button" class="button button-small button-quiet" onClick={() => void remove(t.id)}>
                      Remove {t.device_label ?? t.token_hint}
                    </button>
                  )}
                </div>
                {t.preferences !== undefined && (
                  <details class="registration-prefs" open={t.id === mine}>
                    <summary>
                      Settings for {name}: <span class="muted">{preferencesSummary(t.preferences)}</span>
                    </summary>
                    <PreferencesEditor token={t} devices={devices} onSaved={saved} />
                  </details>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}

export function NotificationsScreen(): JSX.Element {
  const [version, setVersion] = useState(0);
  const dev = useStore(devices);
  useEffect(() => {
    if (!dev.devices) void loadDevices();
  }, [dev.devices]);
  return (
    <Layout title="Notifications">
      <section aria-labelledby="browser-h">
        <h2 id="browser-h">This browser</h2>
        <ThisBrowser onChange={() => setVersion((v) => v + 1)} />
      </section>
      <section aria-labelledby="cams-h">
        <h2 id="cams-h">Cameras</h2>
        <p class="muted">Silence a camera for a while; its notifications resume by themselves.</p>
        <CameraSnoozes devices={dev.devices ?? []} />
      </section>
      <section aria-labelledby="regs-h">
        <h2 id="regs-h">Phones and browsers that get notifications</h2>
        <Registrations version={version} devices={dev.devices ?? []} />
      </section>
    </Layout>
  );
}
