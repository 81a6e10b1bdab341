import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/http.js';
import type { DeviceJson } from '../api/types.js';
import { ErrorNotice } from '../components/error-notice.js';
import { Layout } from '../components/layout.js';
import { formatAgo, formatDateTime, formatSkew, humanName } from '../format.js';
import { Link } from '../router.js';
import { onReconnect } from '../state/connectivity.js';
import { devices, loadDevices, replaceDevice } from '../state/devices.js';
import { isAdmin, session } from '../state/session.js';
import { useStore } from '../state/store.js';
import { CameraSnapshot } from './camera-snapshot.js';

/**
 * The tenant's boxes: online/offline, last seen, clock skew, outbox depth, cameras and their states (live from the
 * heartbeats) and the detector it runs; admins can ask a camera for a snapshot of what it sees now
 * (./camera-snapshot.tsx) and revoke a box (its keys stop working at once), after saying so twice.
 */
const STATE_TEXT: Record<DeviceJson['state'], string> = {
  online: 'Online',
  offline: 'Offline',
  never_seen: 'Never seen',
  revoked: 'Revoked',
};

function Revoke({ device }: { device: DeviceJson }): JSX.Element {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const name = device.name ?? device.id;
  if (!asking)
    return (
      <button type="button" class="button button-small button-danger" onClick={() => setAsking(true)}>
        Revoke {name}
      </button>
    );
  const confirm = async (): Promise<void> => {
    setBusy(true);
    try {
      const r = await api.del<{ revoked_at: string }>(`/v1/devices/${encodeURIComponent(device.id)}`);
      replaceDevice({ ...device, state: 'revoked', online: false, revoked_at: r.revoked_at });
      setAsking(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <fieldset class="confirm">
      <legend>Revoke {name}? It stops sending at once and must be paired again.</legend>
      <button type="button" class="button button-small button-danger" disabled={busy} onClick={() => void confirm()}>
        Yes, revoke {name}
      </button>
      <button type="button" class="button button-small" onClick={() => setAsking(false)}>
        Cancel
      </button>
      <ErrorNotice error={error} />
    </fieldset>
  );
}

/** The detector the box runs: its registry id (or the config's own file) and the start of its SHA-256. */
function Model({ model }: { model: DeviceJson['model'] }): JSX.Element {
  if (!model) return <dd>—</dd>;
  return (
    <dd>
      {model.id ? <code>{model.id}</code> : 'config model'} ·{' '}
      <code title={`SHA-256 ${model.sha256}`}>{model.sha256.slice(0, 12)}</code>
    </dd>
  );
}

function DeviceCard({ d, admin }: { d: DeviceJson; admin: boolean }): JSX.Element {
  // Admins may ask a camera what it sees now (a snapshot command); a revoked box has no way to answer.
  const snapshots = admin && d.state !== 'revoked';
  return (
    <li class="device" aria-labelledby={`dev-${d.id}`}>
      <div class="device-head">
        <h2 id={`dev-${d.id}`}>{d.name ?? d.id}</h2>
        <span class={`chip chip-${d.state}`}>{STATE_TEXT[d.state]}</span>
      </div>
      <dl class="facts">
        <div class="fact">
          <dt>Last seen</dt>
          <dd title={formatDateTime(d.last_seen_at)}>{formatAgo(d.last_seen_at)}</dd>
        </div>
        <div class="fact">
          <dt>Clock</dt>
          <dd>{formatSkew(d.clock_skew_ms)}</dd>
        </div>
        <div class="fact">
          <dt>Waiting to send</dt>
          <dd>
            {d.outbox_depth === null ? '—' : `${d.outbox_depth} message${d.outbox_depth === 1 ? '' : 's'}`}
            {d.disk_full ? ' · disk full' : ''}
            {d.dropped ? ` · ${d.dropped} dropped` : ''}
          </dd>
        </div>
        <div class="fact">
          <dt>Version</dt>
          <dd>{d.version ?? '—'}</dd>
        </div>
        <div class="fact">
          <dt>Model</dt>
          <Model model={d.model} />
        </div>
        <div class="fact">
          <dt>Id</dt>
          <dd>
            <code>{d.id}</code>
          </dd>
        </div>
      </dl>
      {d.cameras.length > 0 ? (
        <ul class={snapshots ? 'cameras cameras-actions' : 'cameras'} aria-label={`Cameras of ${d.name ?? d.id}`}>
          {d.cameras.map((c) => {
            const row = (
              <>
                <span>{humanName(c.name)}</span> <span class={`chip chip-${c.state}`}>{c.state}</span>
                {typeof c.fps === 'number' && <span class="muted"> {c.fps.toFixed(1)} fps</span>}
              </>
            );
            return snapshots ? (
              <CameraSnapshot key={c.name} deviceId={d.id} camera={c.name}>
                {row}
              </CameraSnapshot>
            ) : (
              <li key={c.name}>{row}</li>
            );
          })}
        </ul>
      ) : (
        <p class="muted">No camera reported yet.</p>
      )}
      {admin && d.state !== 'revoked' && <Revoke device={d} />}
    </li>
  );
}

export function DevicesScreen(): JSX.Element {
  const state = useStore(devices);
  const s = useStore(session);
  const admin = isAdmin(s);
  const [, tick] = useState(0);
  useEffect(() => {
    void loadDevices();
    const t = setInterval(() => tick((n) => n + 1), 15_000); // "x s ago" stays true
    const off = onReconnect(() => void loadDevices());
    return () => {
      clearInterval(t);
      off();
    };
  }, []);
  const list = state.devices;
  return (
    <Layout title="Devices">
      <ErrorNotice error={state.error} onRetry={() => void loadDevices()} />
      {!list && !state.error && <p class="muted">Loading…</p>}
      {list && list.length === 0 && (
        <p class="empty">
          No box paired yet. {admin ? <Link href="/add-box">Add a box</Link> : 'An admin can add one.'}
        </p>
      )}
      {list && list.length > 0 && (
        <ul class="devices">
          {list.map((d) => (
            <DeviceCard key={d.id} d={d} admin={admin} />
          ))}
        </ul>
      )}
    </Layout>
  );
}
