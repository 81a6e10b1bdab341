import { render } from 'preact';
import { App } from './app.js';
import './styles.css';
import './pages.css';
import './review-notify.css';

/** Entry: renders the app and registers the service worker (offline shell, Web Push). */
const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
    // No service worker (private mode, blocked): the app works online, without offline start or push.
  });
}
