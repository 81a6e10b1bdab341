import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/**
 * The browser of the web app tests: Debian's Chromium (/usr/bin/chromium; `.ci/run` installs it) driven by
 * playwright-core, headless, with a fresh profile per run (a persistent context, so service workers and
 * notifications behave as in a normal profile). A missing Chromium fails the tests, it does not skip them.
 */
export const CHROMIUM = process.env.VIGIL_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (.ci/run installs it)`);
  const profile = mkdtempSync(join(tmpdir(), 'vigil-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    locale: 'en-GB',
    timezoneId: 'Europe/Berlin',
    colorScheme: 'light',
    serviceWorkers: 'allow',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Delivers push messages to the origin's service worker by the DevTools protocol, as a push service would. */
export interface PushDelivery {
  deliver(payload: Record<string, unknown>): Promise<void>;
  detach(): Promise<void>;
}

export async function pushToServiceWorker(context: BrowserContext, page: Page, origin: string): Promise<PushDelivery> {
  const cdp = await context.newCDPSession(page);
  const registration = new Promise<string>((resolve) => {
    type Update = { registrations: Array<{ registrationId: string; scopeURL: string }> };
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e: Update) => {
      const r = e.registrations.find((x) => x.scopeURL === `${origin}/`);
      if (r) resolve(r.registrationId);
    });
  });
  await cdp.send('ServiceWorker.enable');
  const registrationId = await registration;
  return {
    deliver: async (payload) => {
      await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: JSON.stringify(payload) });
    },
    detach: () => cdp.detach(),
  };
}
