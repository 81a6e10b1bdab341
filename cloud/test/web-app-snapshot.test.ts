import type { Page, Route } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateAck, type Command } from '../../firmware-protocol/messages.js';
import { assetPath } from '../../shared/paths/index.js';
import { MemoryNonceCache } from '../../shared/signing/index.js';
import { SNAPSHOT_WAIT_MS, snapshotOutcome } from '../web/app/devices/snapshot-outcome.js';
import type { CommandJson } from '../web/app/api/types.js';
import { pairTestBox, type TestBox } from './support/box.js';
import { commandResult, polledCommands } from './support/commands.js';
import { launchBrowser, type TestBrowser } from './support-browser/browser.js';
import { screenshots, unnamedControls, waitHeading, waitInPage } from './support-browser/page-checks.js';
import { OWNER, PASSWORD, READER, startWebEnv, type WebEnv } from './support-browser/web-env.js';

/**
 * "What do you see now?" on the Devices screen, in Chromium against a real collector: the running model in the
 * device card; an admin's Snapshot button issues a snapshot command that a box (played here as one does it over
 * HTTPS: the signed long-poll, the signed envelope checked with its key, a signed CommandResult with a real JPEG)
 * answers, and the picture appears inline; a box that never answers ends the command expired / device_offline
 * and the card says so; a reader sees no button. Screenshots at 390×844 and 1280×800 in test-output/screens/.
 */
let env: WebEnv;
let browser: TestBrowser;
let page: Page;
let porch: TestBox;
const consoleErrors: string[] = [];
const nonces = new MemoryNonceCache();
const CONFIG_SHA = 'a3f1c09be7d24411c0ffee0123456789abcdef0123456789abcdef0123456789';
const REGISTRY_MODEL = { id: 'mdl_01JF3Q8Z9V6R2K4M7N5P0X1Y2Z', sha256: '5e1d'.repeat(16) };

/** A heartbeat naming the running model, signed with the box's key (as agent/uplink/heartbeat.ts sends it). */
async function heartbeat(box: TestBox, model: { id: string | null; sha256: string }): Promise<void> {
  const hb = {
    v: 1,
    device_id: box.deviceId,
    sent_at: new Date().toISOString(),
    uptime_s: 12,
    version: '0.1.0',
    outbox: { depth: 0, oldest_pending_age_s: null, dropped: 0, in_flight: 0 },
    cameras: [{ name: 'front', state: 'running', fps: 5, last_frame_age_s: 0.2, restarts: 0 }],
    model,
  };
  const path = `/v1/devices/${box.deviceId}/heartbeat`;
  const res = await env.t.signedFetch(box.creds, 'POST', path, Buffer.from(JSON.stringify(hb)));
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

/** Waits for one snapshot command and answers it with `jpeg` as the box would (agent/commands/snapshot.ts). */
async function answerSnapshot(box: TestBox, jpeg: Buffer): Promise<Command> {
  const [c] = await polledCommands(env.url, box.creds, 15, nonces);
  if (!c) throw new Error('no command came within 15 s');
  const { width = 0, height = 0 } = await sharp(jpeg).metadata();
  const result = commandResult(c, {
    result: {
      camera: (c.args as { camera: string }).camera,
      width,
      height,
      captured_at: new Date().toISOString(),
      jpeg_b64: jpeg.toString('base64'),
    },
  });
  const path = `/v1/devices/${box.deviceId}/results`;
  const res = await env.t.signedFetch(box.creds, 'POST', path, Buffer.from(JSON.stringify(result)));
  expect(res.status).toBe(200);
  expect(validateAck.parse(await res.json()).acks[0]).toMatchObject({ id: c.id, kind: 'result', status: 'accepted' });
  return c;
}

async function signIn(email: string): Promise<void> {
  await page.goto(`${env.url}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/review$/);
  await page.goto(`${env.url}/devices`);
  await waitHeading(page, 'Devices');
}

const snapshotLoaded =
  "(() => { const i = document.querySelector('.snapshot-picture img'); " +
  'return !!i && i.complete && i.naturalWidth > 0 && [i.naturalWidth, i.naturalHeight, i.getAttribute("src")]; })()';

beforeAll(async () => {
  env = await startWebEnv();
  porch = await pairTestBox(env.t, 'porch');
  await heartbeat(env.box, { id: null, sha256: CONFIG_SHA });
  await heartbeat(porch, REGISTRY_MODEL);
  browser = await launchBrowser();
  page = browser.page;
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
});

afterAll(async () => {
  await browser?.close();
  await env?.close();
});

describe('a snapshot from the Devices screen', () => {
  it('shows the model each box runs: its registry id or "config model", and the first 12 hex of its hash', async () => {
    await signIn(OWNER);
    const driveway = page.locator('.device', { hasText: 'driveway' });
    const model = driveway.locator('.fact', { hasText: 'Model' }).locator('dd');
    expect(await model.textContent()).toBe(`config model · ${CONFIG_SHA.slice(0, 12)}`);
    expect(await model.locator('code').getAttribute('title')).toBe(`SHA-256 ${CONFIG_SHA}`);
    const other = page.locator('.device', { hasText: 'porch' }).locator('.fact', { hasText: 'Model' }).locator('dd');
    expect(await other.textContent()).toBe(`${REGISTRY_MODEL.id} · ${REGISTRY_MODEL.sha256.slice(0, 12)}`);
  });

  it('asks the camera what it sees now; the JPEG the box sends back appears in the card', async () => {
    const frame = await sharp(assetPath('media', 'dog.jpg')).resize({ width: 640 }).jpeg({ quality: 80 }).toBuffer();
    const driveway = page.locator('.device', { hasText: 'driveway' });
    const box = answerSnapshot(env.box, frame);
    await driveway.getByRole('button', { name: 'Snapshot of front' }).click();
    const command = await box;
    expect(command).toMatchObject({ kind: 'snapshot', args: { camera: 'front' } });
    const [w, h, src] = await waitInPage<[number, number, string]>(page, snapshotLoaded, 10_000);
    const meta = await sharp(frame).metadata();
    expect([w, h]).toEqual([meta.width, meta.height]);
    expect(src).toBe(`/v1/devices/${env.box.deviceId}/snapshots/${command.id}`);
    expect(await driveway.getByRole('img', { name: 'What front sees now' }).count()).toBe(1);
    expect(await driveway.locator('.snapshot-picture figcaption').textContent()).toContain(`${w}×${h}`);
    // The command asked the collector to wait no longer than the app does (ttl 15 s, not the 5 min default).
    const stored = (await (await env.t.api(`/v1/devices/${env.box.deviceId}/commands/${command.id}`)).json()) as {
      state: string;
      created_at: string;
      expires_at: string;
    };
    expect(stored.state).toBe('done');
    expect(Date.parse(stored.expires_at) - Date.parse(stored.created_at)).toBe(15_000);
    await screenshots(page, 'devices-snapshot');
    expect(await unnamedControls(page)).toEqual([]);
  });

  it('says when the box never answers: expired, device_offline, with the command id', async () => {
    const driveway = page.locator('.device', { hasText: 'driveway' });
    await driveway.getByRole('button', { name: 'Hide the snapshot of front' }).click();
    expect(await driveway.locator('.snapshot-picture').count()).toBe(0);
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Snapshot of front'); // focus kept
    // The same POST the app makes, with a 2 s ttl so the test need not wait 15 s; no box polls now.
    const shorten = async (route: Route): Promise<void> => {
      const req = route.request();
      if (req.method() !== 'POST') return route.continue();
      const body = { ...(req.postDataJSON() as Record<string, unknown>), ttl: '2s' };
      await route.continue({ postData: JSON.stringify(body) });
    };
    const pattern = `**/v1/devices/${env.box.deviceId}/commands`;
    await page.route(pattern, shorten);
    const started = Date.now();
    await driveway.getByRole('button', { name: 'Snapshot of front' }).click();
    await driveway.getByRole('status').filter({ hasText: 'Waiting for the box' }).waitFor();
    expect(await driveway.getByRole('button', { name: 'Snapshot of front' }).isDisabled()).toBe(true);
    const alert = driveway.getByRole('alert');
    await alert.waitFor({ timeout: SNAPSHOT_WAIT_MS });
    await page.unroute(pattern, shorten);
    // Ended by the collector (2 s ttl + its 5 s sweep), not by the app giving up after SNAPSHOT_WAIT_MS.
    expect(Date.now() - started).toBeLessThan(SNAPSHOT_WAIT_MS);
    const text = await alert.textContent();
    expect(text).toContain('The box did not answer in time.');
    expect(text).toContain('the box sent no result before');
    expect(text).toContain('Code: device_offline');
    expect(text).toMatch(/Command: cmd_[0-9A-Z]{26}/);
    expect(await driveway.getByRole('button', { name: 'Snapshot of front' }).isEnabled()).toBe(true);
    await screenshots(page, 'devices-snapshot-offline');
    expect(await unnamedControls(page)).toEqual([]);
  });

  it('offers no Snapshot button to a reader (the model is shown to everyone)', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login$/);
    await signIn(READER);
    const driveway = page.locator('.device', { hasText: 'driveway' });
    await driveway.locator('.fact', { hasText: 'Model' }).waitFor();
    expect(await driveway.locator('.fact', { hasText: 'Model' }).locator('dd').textContent()).toContain('config model');
    expect(await page.getByRole('button', { name: /^Snapshot/ }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Revoke/ }).count()).toBe(0);
  });

  it('ran without script errors or Content-Security-Policy violations', () => {
    expect(consoleErrors.filter((m) => !/Failed to load resource|status of 40[134]/.test(m))).toEqual([]);
  });
});

describe('what an ended command means for the person who asked (snapshotOutcome)', () => {
  const command = (o: Partial<CommandJson>): CommandJson => ({
    id: 'cmd_01JF3Q8Z9V6R2K4M7N5P0X1Y2Z',
    device_id: 'dev_1',
    kind: 'snapshot',
    state: 'done',
    expires_at: new Date().toISOString(),
    error: null,
    result: null,
    snapshot_url: null,
    ...o,
  });

  it("names the box's refusal and its code, and a command still open when the app stopped waiting", () => {
    const refused = command({
      state: 'failed',
      error: { code: 'command_refused', reason: 'camera_unknown', message: 'no camera back' },
    });
    expect(snapshotOutcome(refused, 'back')).toEqual({
      ok: false,
      commandId: refused.id,
      code: 'command_refused',
      reason: 'camera_unknown',
      title: 'The box refused to take the picture.',
      message: 'no camera back',
    });
    expect(snapshotOutcome(command({ state: 'delivered' }), 'front')).toMatchObject({
      ok: false,
      code: null,
      title: `No answer from the box within ${SNAPSHOT_WAIT_MS / 1000} s.`,
      message: expect.stringContaining('still delivered'),
    });
    expect(snapshotOutcome(command({ state: 'done' }), 'front')).toMatchObject({ ok: false, code: null });
  });

  it('reads the picture from a done snapshot: url, camera, time and size (missing ones null)', () => {
    const done = command({
      snapshot_url: '/v1/devices/dev_1/snapshots/cmd_x',
      result: { status: 'done', result: { camera: 'front', width: 640, captured_at: '2026-12-04T22:00:00.000Z' } },
    });
    expect(snapshotOutcome(done, 'front')).toEqual({
      ok: true,
      commandId: done.id,
      url: '/v1/devices/dev_1/snapshots/cmd_x',
      camera: 'front',
      capturedAt: '2026-12-04T22:00:00.000Z',
      width: 640,
      height: null,
    });
  });
});
