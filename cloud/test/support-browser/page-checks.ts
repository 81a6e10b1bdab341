import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { projectRoot } from '../../../shared/paths/index.js';
import { inPage } from './in-page.js';

/**
 * What the browser tests look at beyond clicks: screenshots of a screen at phone and desktop size (into
 * test-output/screens/, gitignored), the accessibility tree (every control has a name) and its ARIA snapshot for a
 * person to read, and where the keyboard focus is.
 */
export const SCREENS_DIR = join(projectRoot(), 'test-output', 'screens');
export const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
} as const;

/** Screenshots of the current page at 390×844 and 1280×800; the viewport is left at the phone size. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  mkdirSync(SCREENS_DIR, { recursive: true });
  const out: string[] = [];
  for (const vp of [VIEWPORTS.desktop, VIEWPORTS.phone]) {
    await page.setViewportSize(vp);
    await page.evaluate(inPage.twoFrames);
    const file = join(SCREENS_DIR, `${name}-${vp.width}x${vp.height}.png`);
    await page.screenshot({ path: file, animations: 'disabled' });
    out.push(file);
  }
  writeFileSync(join(SCREENS_DIR, `${name}.aria.yaml`), await page.locator('body').ariaSnapshot());
  return out;
}

const CONTROL_ROLES = new Set([
  'button',
  'link',
  'textbox',
  'combobox',
  'checkbox',
  'radio',
  'switch',
  'slider',
  'spinbutton',
  'searchbox',
  'menuitem',
  'tab',
  'option',
  'listbox',
  'DisclosureTriangle',
  'image',
  'img',
]);

interface AXValue {
  value?: unknown;
}
interface AXNode {
  ignored?: boolean;
  role?: AXValue;
  name?: AXValue;
  backendDOMNodeId?: number;
}

/** Controls (and images) in the accessibility tree without an accessible name, as "role" strings. */
export async function unnamedControls(page: Page): Promise<string[]> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = (await cdp.send('Accessibility.getFullAXTree')) as { nodes: AXNode[] };
    const bad: string[] = [];
    for (const n of nodes) {
      if (n.ignored) continue;
      const role = String(n.role?.value ?? '');
      if (!CONTROL_ROLES.has(role)) continue;
      const name = String(n.name?.value ?? '').trim();
      if (!name) bad.push(`${role}#${n.backendDOMNodeId ?? '?'}`);
    }
    return bad;
  } finally {
    await cdp.detach();
  }
}

/** The focused element, described: tag, role, name/text. */
export async function focused(page: Page): Promise<string> {
  return (await page.evaluate(inPage.focused)) as string;
}

/** Presses Tab until the focused element's description contains `text` (at most `max` presses). */
export async function tabTo(page: Page, text: string, max = 40): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(f);
    if (f.includes(text)) return seen;
  }
  throw new Error(`Tab never reached "${text}"; focus went: ${seen.join(' → ')}`);
}

/**
 * Evaluates `script` (see in-page.ts) until it gives a truthy value, which it returns. page.waitForFunction would
 * `eval` a string inside the page, which the app's CSP (rightly) forbids; page.evaluate goes through the DevTools
 * protocol instead.
 */
export async function waitInPage<T>(page: Page, script: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    last = await page.evaluate(script);
    if (last) return last as T;
    if (Date.now() > deadline) throw new Error(`in-page condition not met in ${timeoutMs} ms: ${script.slice(0, 120)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The page's first h1, trimmed. */
export async function heading(p: Page): Promise<string> {
  return (await p.locator('h1').first().textContent())?.trim() ?? '';
}

/** Waits for an h1 with this text (a screen rendered after navigation). */
export async function waitHeading(p: Page, text: string): Promise<void> {
  await p.locator('h1', { hasText: text }).first().waitFor({ timeout: 10_000 });
}

/** The events list's cards: their event ids, in list order. */
export async function cardIds(p: Page): Promise<string[]> {
  return p.locator('.cards [data-event-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-event-id')!));
}
