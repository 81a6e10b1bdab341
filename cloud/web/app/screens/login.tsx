import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { connectivity, retryNow } from '../state/connectivity.js';
import { login } from '../state/session.js';
import { useStore } from '../state/store.js';
import { ErrorNotice } from '../components/error-notice.js';

/** Sign in with the owner's email and password (`vigil-cloud user create`). */
export function LoginScreen({ message, onSignedIn }: { message: string | null; onSignedIn: () => void }): JSX.Element {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const reach = useStore(connectivity);
  useEffect(() => {
    document.title = 'Sign in · Vigil';
  }, []);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email.trim(), password);
      setPassword('');
      onSignedIn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="login">
      <div class="login-card">
        <div class="login-brand">
          <img class="brand-mark" src="/icons/icon.svg" alt="" width="32" height="32" />
          <span>Vigil</span>
        </div>
        <h1>Sign in</h1>
        {message && (
          <p class="notice notice-info" role="status">
            {message}
          </p>
        )}
        {!reach.reachable && (
          <div class="notice notice-warn" role="status">
            The collector cannot be reached. Vigil keeps retrying.{' '}
            <button type="button" class="button button-small" onClick={retryNow}>
              Retry now
            </button>
          </div>
        )}
        <form onSubmit={submit} class="form">
          <label class="field">
            <span>Email</span>
            <input
              type="email"
              name="email"
              autoComplete="username"
              required
              value={email}
              onInput={(e) => setEmail(e.currentTarget.value)}
            />
          </label>
          <label class="field">
            <span>Password</span>
            <input
              type="password"
              name="password"
              autoComplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </label>
          <ErrorNotice error={error} />
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
        <p class="muted small">
          No account yet? The collector's operator creates one with <code>vigil-cloud user create</code>.
        </p>
      </div>
    </main>
  );
}
