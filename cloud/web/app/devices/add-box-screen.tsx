import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from '../api/http.js';
import type { PairingCodeJson } from '../api/types.js';
import { ErrorNotice } from '../components/error-notice.js';
import { Layout } from '../components/layout.js';
import { QrCode } from '../components/qr-code.js';
import { formatDateTime } from '../format.js';
import { Link } from '../router.js';
import { loadDevices } from '../state/devices.js';
import { pairCommand } from './pair-command.js';

/**
 * Add a box (admins): create a one-time pairing code, show it large with its expiry, as a QR code and as the exact
 * `vigil-agent pair` command to run on the box; follow the code until the box has used it.
 */
const TTLS: Array<[string, string]> = [
  ['15m', '15 minutes'],
  ['1h', '1 hour'],
  ['24h', '24 hours'],
];

function Countdown({ until }: { until: string }): JSX.Element {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const left = Math.max(0, Math.round((Date.parse(until) - now) / 1000));
  if (left === 0) return <span>expired</span>;
  const m = Math.floor(left / 60);
  return <span>{m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min ${left % 60} s`} left</span>;
}

function CodeCard({ created, state }: { created: PairingCodeJson; state: PairingCodeJson | null }): JSX.Element {
  const [copied, setCopied] = useState(false);
  const code = created.code!;
  const cmd = pairCommand(window.location.origin, code, created.name ?? '');
  const now = state ?? created;
  return (
    <section class="pair-code" aria-labelledby="code-h">
      <h2 id="code-h">Pairing code</h2>
      <p class="code-big" data-code={code}>
        {code}
      </p>
      <p>
        Valid until {formatDateTime(created.expires_at)} (<Countdown until={created.expires_at} />
        ). Used once.
      </p>
      {now.state === 'used' ? (
        <p class="notice notice-ok" role="status">
          Paired: the box joined as <code>{now.device_id}</code>. <Link href="/devices">See it in Devices</Link>.
        </p>
      ) : now.state !== 'pending' ? (
        <p class="notice notice-warn" role="status">
          This code is {now.state}. Create a new one.
        </p>
      ) : (
        <p class="muted" role="status">
          Waiting for the box…
        </p>
      )}
      <div class="pair-ways">
        <QrCode text={cmd} label={`QR code of the pairing command for code ${code}`} />
        <div>
          <p>On the box, run:</p>
          <pre class="command">
            <code>{cmd}</code>
          </pre>
          <button
            type="button"
            class="button button-small"
            onClick={() => {
              void navigator.clipboard?.writeText(cmd).then(
                () => setCopied(true),
                () => setCopied(false),
              );
            }}
          >
            {copied ? 'Copied' : 'Copy the command'}
          </button>
        </div>
      </div>
    </section>
  );
}

export function AddBoxScreen(): JSX.Element {
  const [name, setName] = useState('');
  const [ttl, setTtl] = useState('1h');
  const [created, setCreated] = useState<PairingCodeJson | null>(null);
  const [state, setState] = useState<PairingCodeJson | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const create = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, string> = { ttl };
      if (name.trim()) body.name = name.trim();
      const c = await api.post<PairingCodeJson>('/v1/pairing-codes', body);
      setCreated(c);
      setState(null);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  // Follow the code until it is used, expired or revoked.
  const poll = useCallback(async () => {
    if (!created) return;
    try {
      const r = await api.get<{ pairing_codes: PairingCodeJson[] }>('/v1/pairing-codes');
      const mine = r.pairing_codes.find((p) => p.id === created.id) ?? null;
      setState(mine);
      if (mine?.state === 'used') void loadDevices();
    } catch {
      // The banner or the login screen says what went wrong; polling goes on.
    }
  }, [created]);
  useEffect(() => {
    if (!created || state?.state === 'used' || (state && state.state !== 'pending')) return;
    const t = setInterval(() => void poll(), 2000);
    return () => clearInterval(t);
  }, [created, state, poll]);

  return (
    <Layout title="Add a box">
      <p>
        Install <code>vigil-agent</code> on the box, then create a one-time code here and run the command shown on the
        box.
      </p>
      <form class="form form-inline" onSubmit={create}>
        <div class="field">
          <label for="box-name">Name for the box (optional)</label>
          <input
            id="box-name"
            name="name"
            maxLength={64}
            placeholder="garage"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="code-ttl">Code valid for</label>
          <select id="code-ttl" name="ttl" value={ttl} onChange={(e) => setTtl(e.currentTarget.value)}>
            {TTLS.map(([v, text]) => (
              <option key={v} value={v}>
                {text}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="button button-primary" disabled={busy}>
          {created ? 'Create another code' : 'Create a pairing code'}
        </button>
      </form>
      <ErrorNotice error={error} />
      {created?.code && <CodeCard created={created} state={state} />}
    </Layout>
  );
}
