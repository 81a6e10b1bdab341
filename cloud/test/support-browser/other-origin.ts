import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Response } from 'playwright-core';

/**
 * A page on another origin, as a hostile site would serve it: plain HTML whose script tries state-changing requests
 * against the collector with whatever cookies the browser attaches (no-cors fetch, CORS fetch with JSON, and a form
 * POST). Served on 127.0.0.1 (same site as the collector, other port: the SameSite=Strict cookie IS sent, so only the
 * CSRF defence stops it) and reachable as localhost (another site: the cookie is not sent at all).
 */
export interface OtherOrigin {
  /** http://127.0.0.1:port */
  sameSite: string;
  /** http://localhost:port */
  crossSite: string;
  close(): Promise<void>;
}

export function attackPage(collector: string, deviceId: string): string {
  const target = JSON.stringify(collector);
  return `<!doctype html><html><head><meta charset="utf-8"><title>other origin</title></head><body>
<form id="f" method="POST" action=${JSON.stringify(`${collector}/v1/pairing-codes`)} enctype="text/plain" target="sink">
<input name='{"name":"evil","x":"' value='"}'></form><iframe name="sink" title="sink"></iframe>
<script>
window.results = [];
const c = ${target};
async function attempt(name, fn) {
  try { const r = await fn(); window.results.push(name + ':' + r.type + ':' + r.status); }
  catch (e) { window.results.push(name + ':error'); }
}
window.done = (async () => {
  await attempt('no-cors-post', () => fetch(c + '/v1/pairing-codes', { method: 'POST', mode: 'no-cors',
    credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"name":"evil"}' }));
  await attempt('cors-post', () => fetch(c + '/v1/pairing-codes', { method: 'POST', credentials: 'include',
    headers: { 'content-type': 'application/json' }, body: '{"name":"evil"}' }));
  await attempt('cors-delete', () => fetch(c + '/v1/devices/${deviceId}', { method: 'DELETE',
    credentials: 'include' }));
  await attempt('no-cors-login', () => fetch(c + '/v1/session', { method: 'POST', mode: 'no-cors',
    credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"email":"a@b.c","password":"x"}' }));
  document.getElementById('f').submit();
  await new Promise((r) => setTimeout(r, 500));
  return window.results;
})();
</script></body></html>`;
}

export async function startOtherOrigin(collector: string, deviceId: string): Promise<OtherOrigin> {
  const html = attackPage(collector, deviceId);
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  // All interfaces: Chromium may resolve localhost to ::1.
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    sameSite: `http://127.0.0.1:${port}`,
    crossSite: `http://localhost:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // the browser keeps connections alive
      }),
  };
}

/**
 * Opens the attack page from both origins in the browser and returns what reached the collector:
 * "METHOD /path status" of every state-changing request the collector answered.
 */
export async function attackFromOtherOrigins(
  context: BrowserContext,
  collector: string,
  deviceId: string,
): Promise<string[]> {
  const other = await startOtherOrigin(collector, deviceId);
  const answers: string[] = [];
  const onResponse = (r: Response): void => {
    if (r.url().startsWith(collector) && !['GET', 'OPTIONS'].includes(r.request().method()))
      answers.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
  };
  context.on('response', onResponse);
  try {
    for (const origin of [other.sameSite, other.crossSite]) {
      const evil = await context.newPage();
      await evil.goto(`${origin}/`, { timeout: 10_000 });
      const done = 'window.results && window.results.length === 4';
      await evil.waitForFunction(done, undefined, { timeout: 10_000 });
      const results = (await evil.evaluate('window.results')) as string[];
      if (results.length !== 4) throw new Error(`attack page: ${JSON.stringify(results)}`);
      await evil.close();
    }
  } finally {
    context.off('response', onResponse);
    await other.close();
  }
  return answers;
}
