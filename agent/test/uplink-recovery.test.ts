/**
 * How fast the uplink comes back after an outage. While the collector is away every send fails and the whole
 * transport pauses, longer after each failure (failure-policy.ts). Two things keep that pause from outliving the
 * outage: sends that were already on their way together when it began count as one failure, not one each; and a
 * heartbeat (sent on its own timer, pause or not) that reaches the collector ends the pause at once.
 *
 * The transport here is a scripted one (no network): it fails or answers as the test says and counts the sends.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OffsetClock } from '../../shared/clock/index.js';
import { Outbox } from '../outbox/index.js';
import { Uplink, type SendResult, type Transport } from '../uplink/index.js';
import { validateRecord } from '../wire/index.js';
import { makeEvent } from './support-uplink/events.js';
import { tempDir, waitFor } from './support-uplink/harness.js';

const DOWN: SendResult = { failure: { code: 'network_error', message: 'connect ECONNREFUSED' } };

class ScriptedTransport implements Transport {
  readonly name = 'https';
  up = false;
  eventSends = 0;
  thumbnailSends = 0;
  /** Sends held until `release()`, to make several fail together. */
  private held: Array<() => void> = [];
  holding = false;
  /** Answers for the next sends, in order (then `up` decides). */
  script: SendResult[] = [];

  async start(_onAck: unknown, onReady: () => void): Promise<void> {
    onReady();
  }
  isReady(): boolean {
    return true;
  }
  private async answer(): Promise<SendResult> {
    if (this.holding) await new Promise<void>((r) => this.held.push(r));
    return this.script.shift() ?? (this.up ? {} : DOWN);
  }
  sendEvents(): Promise<SendResult> {
    this.eventSends++;
    return this.answer();
  }
  sendThumbnail(): Promise<SendResult> {
    this.thumbnailSends++;
    return this.answer();
  }
  sendHeartbeat(): Promise<SendResult> {
    return Promise.resolve(this.up ? {} : DOWN);
  }
  sendResult(): Promise<SendResult> {
    return this.answer();
  }
  get waiting(): number {
    return this.held.length;
  }
  release(): void {
    this.holding = false;
    for (const r of this.held.splice(0)) r();
  }
  async close(): Promise<void> {}
}

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function setup(transport: ScriptedTransport): { uplink: Uplink; outbox: Outbox } {
  const dir = tempDir('vigil-uplink-recovery-');
  const outbox = Outbox.open({ path: join(dir, 'outbox.db'), validateEvent: validateRecord });
  const uplink = new Uplink({
    outbox,
    transport,
    deviceId: 'dev_01HZX5R4T3Q2P1N0M9K8J7H6G5',
    clock: new OffsetClock(),
    heartbeatIntervalMs: 0,
    ackTimeoutMs: 60_000,
    idlePollMs: 50,
    concurrency: 4,
    batchMaxEvents: 1,
    messagesPerSecond: 0,
    // A long pause from the first failure on: anything sent again within the test was let through early.
    transportBackoff: { baseMs: 40_000, maxMs: 60_000 },
  });
  cleanup.push(async () => {
    await uplink.stop();
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { uplink, outbox };
}

describe('the uplink after an outage', () => {
  it('a heartbeat that reaches the collector ends the transport pause: what waited goes at once', async () => {
    const t = new ScriptedTransport();
    const { uplink, outbox } = setup(t);
    outbox.enqueue(makeEvent());
    await uplink.start();
    await waitFor('the first send failed and paused the transport', () => uplink.status().pausedUntilMs !== null);
    expect(t.eventSends).toBe(1);

    // The collector is back. A heartbeat that still fails changes nothing; one that gets through ends the pause.
    await uplink.heartbeatNow();
    expect(uplink.status().pausedUntilMs).not.toBeNull();
    t.up = true;
    await uplink.heartbeatNow();
    expect(uplink.status()).toMatchObject({ pausedUntilMs: null, consecutiveFailures: 0 });
    // The item's own backoff (earned during the outage) is cut short too: it is sent again within a poll or two.
    await waitFor('the event sent again', () => t.eventSends === 2, 5_000);
  });

  it('a collector that asked to wait (Retry-After) is waited for, even when a heartbeat gets through', async () => {
    const t = new ScriptedTransport();
    t.holding = true;
    t.script = [DOWN, { failure: { code: 'rate_limited', message: 'slow down', status: 429, retryAfterMs: 120_000 } }];
    const { uplink, outbox } = setup(t);
    for (let i = 0; i < 2; i++) outbox.enqueue(makeEvent());
    await uplink.start();
    await waitFor('two sends on their way together', () => t.waiting === 2);
    t.release();
    await waitFor('both answered', () => uplink.metrics.failures === 2);
    const waitUntil = uplink.status().pausedUntilMs;
    expect(waitUntil! - Date.now()).toBeGreaterThan(100_000);
    t.up = true;
    await uplink.heartbeatNow();
    expect(uplink.status().pausedUntilMs).toBe(waitUntil);
    expect(t.eventSends).toBe(2);
  });

  it('sends that fail together count as one failure: the pause does not double for each', async () => {
    const t = new ScriptedTransport();
    t.holding = true;
    const { uplink, outbox } = setup(t);
    for (let i = 0; i < 3; i++) outbox.enqueue(makeEvent());
    await uplink.start();
    await waitFor('three sends on their way together', () => t.waiting === 3);
    t.release();
    await waitFor('all three failed', () => uplink.metrics.failures === 3);
    // One failure's pause (20-40 s at base 40 s), not three failures' (80-160 s, capped at 60 s → 30-60 s).
    expect(uplink.status().consecutiveFailures).toBe(1);
    expect(uplink.status().pausedUntilMs! - Date.now()).toBeLessThanOrEqual(40_000);
  });
});
