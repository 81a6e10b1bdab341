import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/http.js';
import type { DeviceJson } from '../api/types.js';
import { ErrorNotice } from '../components/error-notice.js';
import { formatDateTime, humanName } from '../format.js';

/** Per-camera on/off for notifications, over the collector's snooze (GET/POST/DELETE /v1/cameras/{d}/{c}/snooze). */
interface Snooze {
  snoozed: boolean;
  until: string | null;
}

const CHOICES: Array<[string, string, number]> = [
  ['on', 'On', 0],
  ['1h', 'Off for 1 hour', 3_600_000],
  ['8h', 'Off for 8 hours', 8 * 3_600_000],
  ['1d', 'Off for a day', 86_400_000],
  ['7d', 'Off for a week', 7 * 86_400_000],
  ['365d', 'Off until turned on', 365 * 86_400_000],
];

const snoozePath = (d: string, c: string): string =>
  `/v1/cameras/${encodeURIComponent(d)}/${encodeURIComponent(c)}/snooze`;

function CameraRow({ device, camera }: { device: DeviceJson; camera: string }): JSX.Element {
  const [s, setS] = useState<Snooze | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api.get<Snooze>(snoozePath(device.id, camera)).then(setS, setError);
  }, [device.id, camera]);
  const id = `snooze-${device.id}-${camera}`;
  const change = async (choice: string): Promise<void> => {
    const ms = CHOICES.find(([v]) => v === choice)?.[2] ?? 0;
    setBusy(true);
    setError(null);
    try {
      setS(
        ms === 0
          ? await api.del<Snooze>(snoozePath(device.id, camera))
          : await api.post<Snooze>(snoozePath(device.id, camera), { until: new Date(Date.now() + ms).toISOString() }),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <li class="snooze-row">
      <label for={id}>
        {humanName(camera)} <span class="muted">({device.name ?? device.id})</span>
      </label>
      <select
        id={id}
        disabled={busy || !s}
        value={s?.snoozed ? '' : 'on'}
        onChange={(e) => void change(e.currentTarget.value)}
      >
        {s?.snoozed && <option value="">Off until {formatDateTime(s.until)}</option>}
        {CHOICES.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
      <ErrorNotice error={error} />
    </li>
  );
}

export function CameraSnoozes({ devices }: { devices: DeviceJson[] }): JSX.Element {
  const rows = devices
    .filter((d) => d.state !== 'revoked')
    .flatMap((d) => (d.cameras ?? []).map((c) => ({ d, camera: c.name })));
  if (rows.length === 0) return <p class="muted">No camera reported yet.</p>;
  return (
    <ul class="snoozes">
      {rows.map(({ d, camera }) => (
        <CameraRow key={`${d.id}/${camera}`} device={d} camera={camera} />
      ))}
    </ul>
  );
}
