import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

/**
 * Issue 10, finding 6: limits that cannot be dodged. Pairing guesses were limited per client address only, so 200
 * addresses made 2,000 guesses in 1.8 s; now a collector-wide bucket caps them whatever the number of sources.
 */

interface ErrorBody {
  error: { code: string; message: string; request_id: string; details?: Record<string, unknown> };
}

describe('pairing attempts', () => {
  let t: TestCloud;
  // Time stands still: no bucket refills during the test, so the counts are exact.
  const clock = new ManualClock(Date.now());
  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend, {
      clock,
      overrides: {
        pairing: {
          attempts_per_minute: 30,
          attempts_burst: 10,
          global_attempts_per_minute: 120,
          global_attempts_burst: 60,
        },
      },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const guess = (remoteAddress: string, i: number) =>
    t.cloud.app.inject({
      method: 'POST',
      url: '/v1/pair',
      remoteAddress,
      headers: { 'content-type': 'application/json' },
      payload: {
        v: 1,
        code: `ZZZZ-${String(i % 10_000)
          .padStart(4, '2')
          .replace(/[01]/g, '2')}`,
      },
    });

  it('cuts 200 source addresses making 2,000 guesses off at the collector-wide limit', async () => {
    const statuses = new Map<number, number>();
    let refused: { retryAfter: string | undefined; body: ErrorBody } | undefined;
    for (let round = 0; round < 10; round++) {
      const batch = await Promise.all(
        Array.from({ length: 200 }, (_, s) => guess(`10.20.${s >> 8}.${s & 255}`, round * 200 + s)),
      );
      for (const res of batch) {
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode === 429 && !refused)
          refused = { retryAfter: res.headers['retry-after'] as string | undefined, body: res.json() as ErrorBody };
      }
    }
    // Each source stayed within its own burst of 10: only the global bucket (burst 60) can have refused them.
    expect(statuses.get(400)).toBe(60);
    expect(statuses.get(429)).toBe(1940);
    expect(Number(refused?.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(refused?.body.error).toMatchObject({ code: 'rate_limited', details: { scope: 'global' } });
    expect(refused?.body.error.request_id).toBeTruthy();
    expect(refused?.body.error.message).toMatch(/pairing attempts/);

    // The refusals are counted for operators.
    const metrics = await (await fetch(t.url + '/metrics')).text();
    expect(metrics).toMatch(/vigil_pairing_attempts_refused_total\{scope="global"\} 1940/);

    // Attempts refused by the global bucket cost the source nothing: a box that kept trying while it was empty has
    // its own budget when the global one refills (1 s at 120/min = 2 attempts).
    const patient = await Promise.all(Array.from({ length: 20 }, (_, i) => guess('10.77.0.1', i)));
    expect(patient.every((r) => r.statusCode === 429)).toBe(true);
    clock.advance(1_000);
    expect((await guess('10.77.0.1', 1)).statusCode).toBe(400);

    // Time refills the bucket: 30 s at 120/min is 60 attempts again.
    clock.advance(30_000);
    const after = await guess('10.99.0.1', 1);
    expect(after.statusCode).toBe(400);
  });

  it('treats one IPv6 /64 as one source: rotating addresses inside it cannot dodge the per-source limit', async () => {
    clock.advance(3_600_000);
    const statuses: number[] = [];
    for (let i = 1; i <= 12; i++) statuses.push((await guess(`2001:db8:1:2::${i.toString(16)}`, i)).statusCode);
    expect(statuses.slice(0, 10).every((s) => s === 400)).toBe(true);
    const last = await guess('2001:db8:1:2:ffff:ffff:ffff:ffff', 99);
    expect([statuses[10], statuses[11], last.statusCode]).toEqual([429, 429, 429]);
    expect((last.json() as ErrorBody).error.details).toMatchObject({ scope: 'source' });
    // Another /64 (and an IPv4-mapped address) is another source.
    expect((await guess('2001:db8:1:3::1', 1)).statusCode).toBe(400);
    expect((await guess('::ffff:192.0.2.7', 1)).statusCode).toBe(400);
  });

  it('ignores X-Forwarded-For unless server.trust_proxy is set (a forged header is not a new source)', async () => {
    clock.advance(3_600_000);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await t.cloud.app.inject({
        method: 'POST',
        url: '/v1/pair',
        remoteAddress: '198.51.100.9',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `203.0.113.${i}` },
        payload: { v: 1, code: 'ZZZZ-ZZZZ' },
      });
      statuses.push(res.statusCode);
    }
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
  });
});

describe('live streams', () => {
  let t: TestCloud;
  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend, {
      overrides: { api: { stream_max_per_token: 10, stream_max_per_tenant: 15 } },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  interface Opened {
    status: number;
    body: string;
    close(): void;
  }
  /** Opens GET /v1/events/stream; a 200 stays open (its first bytes read) until close(). */
  const open = async (token: string): Promise<Opened> => {
    const abort = new AbortController();
    const res = await fetch(t.url + '/v1/events/stream', {
      headers: { authorization: `Bearer ${token}` },
      signal: abort.signal,
    });
    if (res.status !== 200) return { status: res.status, body: await res.text(), close: () => undefined };
    const reader = res.body!.getReader();
    const first = await reader.read();
    return { status: 200, body: Buffer.from(first.value ?? []).toString(), close: () => abort.abort() };
  };
  const sseClients = async (): Promise<number> =>
    Number(/^vigil_sse_clients (\d+)$/m.exec(await (await fetch(t.url + '/metrics')).text())?.[1]);
  const until = async (cond: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 25));
  };

  it('one token holds 10 streams: 5,000 more attempts get 429 too_many_streams; closing frees a slot', async () => {
    const held: Opened[] = [];
    for (let i = 0; i < 10; i++) held.push(await open(t.tokens.admin));
    expect(held.map((s) => s.status)).toEqual(Array(10).fill(200));
    expect(held[0]!.body).toContain(': connected');

    let opened = 0;
    let sample: Opened | undefined;
    for (let batch = 0; batch < 25; batch++) {
      const results = await Promise.all(Array.from({ length: 200 }, () => open(t.tokens.admin)));
      for (const r of results) {
        if (r.status === 200) {
          opened++;
          r.close();
        } else sample ??= r;
      }
    }
    expect(opened).toBe(0);
    expect(sample?.status).toBe(429);
    const body = JSON.parse(sample!.body) as {
      error: { code: string; message: string; request_id: string; details: Record<string, unknown> };
    };
    expect(body.error).toMatchObject({ code: 'too_many_streams', details: { scope: 'token', limit: 10 } });
    expect(body.error.request_id).toBeTruthy();
    expect(await sseClients()).toBe(10);

    // Closing streams gives their slots back.
    for (const s of held.splice(0, 3)) s.close();
    await until(async () => (await sseClients()) === 7);
    expect(await sseClients()).toBe(7);
    for (let i = 0; i < 3; i++) {
      const again = await open(t.tokens.admin);
      expect(again.status).toBe(200);
      held.push(again);
    }
    expect((await open(t.tokens.admin)).status).toBe(429);

    // The tenant cap (15) counts every token of the tenant; another tenant is not affected.
    const reader: Opened[] = [];
    for (let i = 0; i < 5; i++) reader.push(await open(t.tokens.reader));
    expect(reader.map((s) => s.status)).toEqual(Array(5).fill(200));
    const sixth = await open(t.tokens.reader);
    expect(sixth.status).toBe(429);
    expect((JSON.parse(sixth.body) as { error: { details: Record<string, unknown> } }).error.details).toMatchObject({
      scope: 'tenant',
      limit: 15,
    });
    const other = await open(t.tokens.otherTenant);
    expect(other.status).toBe(200);

    for (const s of [...held, ...reader, other]) s.close();
    await until(async () => (await sseClients()) === 0);
    expect(await sseClients()).toBe(0);
    expect((await open(t.tokens.reader)).status).toBe(200);
  });
});
