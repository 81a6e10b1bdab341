import type { JSX } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { api } from '../api/http.js';
import type { DeviceJson, PushPreferencesJson, PushTokenJson } from '../api/types.js';
import { ErrorNotice } from '../components/error-notice.js';
import { humanName } from '../format.js';
import {
  formFrom,
  isTicked,
  NOTIFY_LABELS,
  type PreferencesForm,
  preferencesFrom,
  timeZones,
  toggled,
  withSaved,
} from './preferences.js';

/**
 * The settings of one phone or browser: which labels and cameras may notify it, and its quiet hours (start, end,
 * time zone — the browser's by default). Saved with PUT /v1/push/tokens/{id}/preferences. Plain checkboxes, time
 * inputs and a select inside fieldsets with legends: each control has its name and the form works by keyboard.
 */

export interface CameraOption {
  /** "device_id/camera", as the preferences name cameras. */
  key: string;
  text: string;
}

export function cameraOptions(list: readonly DeviceJson[]): CameraOption[] {
  return list
    .filter((d) => d.state !== 'revoked')
    .flatMap((d) =>
      (d.cameras ?? []).map((c) => ({ key: `${d.id}/${c.name}`, text: `${humanName(c.name)} (${d.name ?? d.id})` })),
    );
}

function Checks(props: {
  legend: string;
  idPrefix: string;
  options: Array<[string, string]>;
  ticked: string[] | null;
  onChange: (next: string[] | null) => void;
}): JSX.Element {
  const offered = props.options.map(([v]) => v);
  return (
    <fieldset class="checks">
      <legend>{props.legend}</legend>
      {props.options.map(([value, text]) => {
        const id = `${props.idPrefix}-${value.replace(/[^A-Za-z0-9_-]/g, '_')}`;
        return (
          <div class="check" key={value}>
            <input
              type="checkbox"
              id={id}
              checked={isTicked(props.ticked, value)}
              onChange={(e) => props.onChange(toggled(props.ticked, offered, value, e.currentTarget.checked))}
            />
            <label for={id}>{text}</label>
          </div>
        );
      })}
    </fieldset>
  );
}

export function PreferencesEditor({
  token,
  devices,
  onSaved,
}: {
  token: PushTokenJson;
  devices: readonly DeviceJson[];
  onSaved: (t: PushTokenJson) => void;
}): JSX.Element {
  const saved = token.preferences ?? null;
  const cams = useMemo(() => cameraOptions(devices), [devices]);
  const labels = useMemo(() => withSaved(NOTIFY_LABELS, saved?.labels), [saved]);
  const cameraKeys = useMemo(
    () =>
      withSaved(
        cams.map((c) => c.key),
        saved?.cameras,
      ),
    [cams, saved],
  );
  const [form, setForm] = useState<PreferencesForm>(() => formFrom(saved));
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const zones = useMemo(() => timeZones(form.timeZone), [form.timeZone]);
  const p = `prefs-${token.id}`;
  const name = token.device_label ?? token.platform;
  const set = (patch: Partial<PreferencesForm>): void => {
    setForm((f) => ({ ...f, ...patch }));
    setDone(false);
  };
  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: PushPreferencesJson = preferencesFrom(form);
      const t = await api.put<PushTokenJson>(`/v1/push/tokens/${encodeURIComponent(token.id)}/preferences`, body);
      setDone(true);
      onSaved(t);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const camText = (k: string): string => cams.find((c) => c.key === k)?.text ?? k;
  return (
    <form class="prefs" aria-label={`What notifies ${name}`} onSubmit={(e) => void save(e)}>
      <Checks
        legend="Labels"
        idPrefix={`${p}-label`}
        options={labels.map((l) => [l, humanName(l)])}
        ticked={form.labels}
        onChange={(labels) => set({ labels })}
      />
      {cameraKeys.length > 0 && (
        <Checks
          legend="Cameras"
          idPrefix={`${p}-camera`}
          options={cameraKeys.map((k) => [k, camText(k)])}
          ticked={form.cameras}
          onChange={(cameras) => set({ cameras })}
        />
      )}
      <fieldset class="checks">
        <legend>Quiet hours</legend>
        <div class="check">
          <input
            type="checkbox"
            id={`${p}-quiet`}
            checked={form.quiet}
            onChange={(e) => set({ quiet: e.currentTarget.checked })}
          />
          <label for={`${p}-quiet`}>No notifications during quiet hours</label>
        </div>
        {form.quiet && (
          <div class="quiet-times">
            <div class="field">
              <label for={`${p}-start`}>Quiet from</label>
              <input
                type="time"
                id={`${p}-start`}
                required
                value={form.start}
                onChange={(e) => set({ start: e.currentTarget.value })}
              />
            </div>
            <div class="field">
              <label for={`${p}-end`}>Quiet until</label>
              <input
                type="time"
                id={`${p}-end`}
                required
                value={form.end}
                onChange={(e) => set({ end: e.currentTarget.value })}
              />
            </div>
            <div class="field">
              <label for={`${p}-tz`}>Time zone</label>
              <select id={`${p}-tz`} value={form.timeZone} onChange={(e) => set({ timeZone: e.currentTarget.value })}>
                {zones.map((z) => (
                  <option key={z} value={z}>
                    {z.replace(/_/g, ' ')}
                  </option>
                ))}
              </select>
            </div>
          </div>
        )}
      </fieldset>
      <p class="muted">With every box ticked, labels and cameras added later notify too.</p>
      <div class="actions">
        <button type="submit" class="button button-primary" disabled={busy}>
          Save settings for {name}
        </button>
        <span role="status">{done ? 'Saved.' : ''}</span>
      </div>
      <ErrorNotice error={error} />
    </form>
  );
}
