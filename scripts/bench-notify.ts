/**
 * `npm run bench:notify` — latency of verify-then-notify: from the collector's HTTP 200 for a signed event upload to
 * the push decision, with a vision LLM that takes 300 ms per answer.
 *
 * In one process, on loopback: a collector (real HTTP ingest, real job queue, SQLite — and PostgreSQL when reachable
 * at 127.0.0.1:5432), the local OpenAI-compatible LLM server answering "person, 0.93" after BENCH_LLM_MS (300), and
 * local APNs / FCM / Web Push servers with one registered phone each. BENCH_EVENTS (100) events are sent at
 * BENCH_RATE per second (10), each on its own camera (no cooldown) with its own picture (no cache hit), each
 * followed by its thumbnail upload as a box does. Queue concurrency BENCH_CONCURRENCY (8).
 *
 * Printed per database: ingest → decision (the policy's push decision, recorded before the fan-out),
 * ingest → Web Push delivery (the decrypted notification arriving at the push server), and the re-classification
 * itself (downscale + LLM request + answer check), p50 / p90 / p99 / max. Everything shares one process and the
 * machine's cores, so a loaded machine shows up in the tail.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { postgresBackend, sqliteBackend, type TestBackend } from '../cloud/test/support/backends.js';
import { startTestCloud } from '../cloud/test/support/cloud.js';
import { NotifyHarness } from '../cloud/test/support-llm/notify-harness.js';
import { PERSON_ANSWER } from '../cloud/test/support-llm/llm-server.js';
import { POSTGRES_URL, tcpReachable } from '../shared/testing/index.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100);
const RATE = Number(process.env.BENCH_RATE ?? 10);
const LLM_MS = Number(process.env.BENCH_LLM_MS ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function line(name: string, values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const f = (x: number): string => `${Math.round(x)}`.padStart(6);
  return (
    `  ${name.padEnd(30)} n=${String(s.length).padStart(4)}  p50 ${f(pct(s, 50))} ms  p90 ${f(pct(s, 90))} ms  p99 ` +
    `${f(pct(s, 99))} ms  max ${f(s.at(-1) ?? NaN)} ms`
  );
}

async function run(backend: TestBackend, h: NotifyHarness): Promise<void> {
  const decidedAt = new Map<string, { at: number; push: boolean; reason: string }>();
  const t = await startTestCloud(backend, {
    overrides: h.overrides({ queue: { concurrency: CONCURRENCY, poll: '1s' }, reclassify: { budget: '10s' } }),
    notify: {
      pushService: h.pushService,
      onDecision: (id, d, at) => decidedAt.set(id, { at, push: d.push, reason: d.reason }),
    },
  });
  try {
    const creds = await t.pairDevice('bench box');
    await h.registerTokens(t);
    h.llm.reset();
    const acked = new Map<string, number>();
    const started = Date.now();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const due = started + (i * 1000) / RATE;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      sends.push(
        h.sendEvent(t, creds, { camera: `bench${i}` }).then((e) => {
          acked.set(e.eventId, e.ackedAt);
        }),
      );
    }
    await Promise.all(sends);
    const deadline = Date.now() + 60_000 + (EVENTS * LLM_MS) / CONCURRENCY;
    while (decidedAt.size < EVENTS && Date.now() < deadline) await sleep(50);
    await sleep(500); // last fan-outs
    const toDecision: number[] = [];
    const toDelivery: number[] = [];
    const classifyMs: number[] = [];
    const reasons: Record<string, number> = {};
    for (const [id, ack] of acked) {
      const d = decidedAt.get(id);
      if (d) {
        toDecision.push(d.at - ack);
        reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
      }
      const web = h.deliveries(id).web[0];
      if (web) toDelivery.push(web.at - ack);
      const c = (await t.cloud.notify.notifier.records.verification(id))?.classification;
      if (c) classifyMs.push(c.ms);
    }
    console.log(
      `${backend.name}: ${EVENTS} events at ${RATE}/s, LLM ${LLM_MS} ms, queue concurrency ${CONCURRENCY}; ` +
        `decisions ${JSON.stringify(reasons)}; LLM requests ${h.llm.requests.length}`,
    );
    console.log(line('ingest 200 → push decision', toDecision));
    console.log(line('ingest 200 → Web Push delivered', toDelivery));
    console.log(line('of which re-classification', classifyMs));
  } finally {
    await t.close();
  }
}

async function main(): Promise<void> {
  const h = await NotifyHarness.start({
    defaultReply: { kind: 'answer', answer: PERSON_ANSWER, delayMs: LLM_MS, usage: { prompt: 800, completion: 40 } },
  });
  try {
    await run(sqliteBackend, h);
    const pg = new URL(POSTGRES_URL);
    if (await tcpReachable(pg.hostname, Number(pg.port || 5432))) await run(postgresBackend, h);
    else console.log('postgres: not reachable, skipped');
  } finally {
    await h.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
