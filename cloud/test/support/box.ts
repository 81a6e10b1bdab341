import { createHash } from 'node:crypto';
import { newEventId } from '../../../shared/ids/index.js';
import { testJpeg } from '../../../shared/testing/index.js';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import type { TestCloud } from './cloud.js';
import { wireEvent, type WireEventOptions } from './fixtures.js';

/** A fake box talking signed HTTP to a test collector, as vigil-agent would. */
export class TestBox {
  constructor(
    readonly t: TestCloud,
    readonly creds: DeviceCredentials,
  ) {}

  get deviceId(): string {
    return this.creds.deviceId;
  }

  event(o: Omit<WireEventOptions, 'deviceId'> = {}): Record<string, unknown> {
    return wireEvent({ deviceId: this.deviceId, startedAt: Date.now(), ...o }) as Record<string, unknown>;
  }

  /** POSTs one event or a batch; returns status and the ack (or error) body. */
  async send(
    events: Record<string, unknown> | Record<string, unknown>[],
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const payload = Array.isArray(events) ? { v: 1, events } : events;
    const res = await this.t.signedFetch(
      this.creds,
      'POST',
      `/v1/devices/${this.deviceId}/events`,
      Buffer.from(JSON.stringify(payload)),
    );
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async heartbeat(o: { outboxDepth?: number; dropped?: number; sentAt?: number } = {}): Promise<number> {
    const hb = {
      v: 1,
      device_id: this.deviceId,
      sent_at: new Date(o.sentAt ?? Date.now()).toISOString(),
      uptime_s: 12,
      version: '0.1.0',
      outbox: { depth: o.outboxDepth ?? 2, oldest_pending_age_s: null, dropped: o.dropped ?? 0, in_flight: 0 },
      cameras: [{ name: 'front', state: 'running', fps: 5, last_frame_age_s: 0.2, restarts: 0 }],
    };
    const res = await this.t.signedFetch(
      this.creds,
      'POST',
      `/v1/devices/${this.deviceId}/heartbeat`,
      Buffer.from(JSON.stringify(hb)),
    );
    await res.arrayBuffer();
    return res.status;
  }

  /** Sends an event announcing `jpeg`, then uploads it. */
  async eventWithThumbnail(jpeg: Buffer, o: Omit<WireEventOptions, 'deviceId'> = {}): Promise<string> {
    const id = typeof o.id === 'string' ? o.id : newEventId();
    const sha256 = createHash('sha256').update(jpeg).digest('hex');
    const sent = await this.send(this.event({ ...o, id, thumbnail: { sha256, size: jpeg.length } }));
    if (sent.status !== 200) throw new Error(`event: ${sent.status} ${JSON.stringify(sent.body)}`);
    const res = await this.t.signedFetch(
      this.creds,
      'PUT',
      `/v1/devices/${this.deviceId}/events/${id}/thumbnail`,
      jpeg,
      'image/jpeg',
    );
    if (res.status !== 200) throw new Error(`thumbnail: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return id;
  }
}

export async function pairTestBox(t: TestCloud, name = 'box', tenantToken?: string): Promise<TestBox> {
  return new TestBox(t, await t.pairDevice(name, tenantToken));
}

/** A small real JPEG (8×8) of `size + 6` bytes, different for each `fill`: the collector opens every thumbnail. */
export function fakeJpeg(fill = 1, size = 4096): Buffer {
  return testJpeg(size + 6, fill);
}

/** Reads server-sent events from a fetch Response until `match` returns true or `timeoutMs` passes. */
export async function readSse(
  res: Response,
  match: (event: { event: string; data: string }) => boolean,
  timeoutMs = 10_000,
): Promise<{ event: string; data: string }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const deadline = setTimeout(() => void reader.cancel(), timeoutMs);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('SSE stream ended before the expected event');
      buffer += decoder.decode(value, { stream: true });
      for (let idx = buffer.indexOf('\n\n'); idx >= 0; idx = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, idx);
        buffer = buffer.slice(idx + 2);
        const ev = { event: 'message', data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('data: ')) ev.data += line.slice(6);
        }
        if (ev.data && match(ev)) return ev;
      }
    }
  } finally {
    clearTimeout(deadline);
    await reader.cancel().catch(() => undefined);
  }
}
