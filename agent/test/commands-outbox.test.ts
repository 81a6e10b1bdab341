import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { OffsetClock } from '../../shared/clock/index.js';
import { COMMAND_RESULT_MAX_BYTES } from '../../firmware-protocol/limits.js';
import type { Ack, AckItem, CommandResult } from '../../firmware-protocol/messages.js';
import { resultBody } from '../commands/index.js';
import { OUTBOX_SCHEMA_VERSION, ROW_OVERHEAD_BYTES, type Outbox } from '../outbox/index.js';
import { Uplink, type SendResult, type Transport } from '../uplink/index.js';
import { makeReview } from './support-uplink/events.js';
import { waitFor } from './support-uplink/harness.js';
import { outboxFixture, thrown } from './support/outbox-fixture.js';
import { makeCommand, testDevice } from './support-commands/commands.js';

/**
 * Result records in the outbox (kind `result`, schema step 6) and through the uplink: sent alone with
 * Transport.sendResult, settled by an ack of kind `result` (accepted/duplicate → forgotten, rejected → dead).
 */

const fx = outboxFixture('vigil-results-');

/** A transport that answers each result send with an ack of kind result and the status `answer` picks. */
class ResultTransport implements Transport {
  readonly name = 'https';
  readonly results: Array<{ id: string; body: Buffer }> = [];
  readonly other: string[] = [];
  answer: (id: string) => AckItem['status'] = () => 'accepted';

  async start(_onAck: unknown, onReady: () => void): Promise<void> {
    onReady();
  }
  isReady(): boolean {
    return true;
  }
  private ack(items: AckItem[]): SendResult {
    const ack: Ack = { v: 1, acks: items, server_time: new Date().toISOString() };
    return { ack };
  }
  async sendEvents(body: Buffer): Promise<SendResult> {
    const v = JSON.parse(body.toString()) as { id: string; rev: number; kind?: string };
    this.other.push(v.id);
    return this.ack([{ id: v.id, rev: v.rev, kind: v.kind === 'review' ? 'review' : 'event', status: 'accepted' }]);
  }
  async sendThumbnail(): Promise<SendResult> {
    throw new Error('no thumbnails here');
  }
  async sendHeartbeat(): Promise<SendResult> {
    return {};
  }
  async sendResult(commandId: string, body: Buffer): Promise<SendResult> {
    this.results.push({ id: commandId, body });
    const status = this.answer(commandId);
    const extra = status === 'rejected' ? { code: 'invalid_message', message: 'no' } : {};
    return this.ack([{ id: commandId, rev: 0, kind: 'result', status, ...extra }]);
  }
  async close(): Promise<void> {}
}

function uplinkOver(outbox: Outbox, transport: ResultTransport): Uplink {
  const uplink = new Uplink({
    outbox,
    transport,
    deviceId: 'box-1',
    clock: new OffsetClock(),
    heartbeatIntervalMs: 0,
    idlePollMs: 20,
    messagesPerSecond: 0,
  });
  return uplink;
}

const device = testDevice();
const body = (status: 'done' | 'refused' = 'done'): { id: string; body: Buffer } => {
  const cmd = makeCommand(device.deviceId, fx.clock);
  const outcome =
    status === 'done'
      ? ({ status: 'done', result: { ok: true } } as const)
      : ({ status: 'refused', code: 'command_unknown', message: 'no' } as const);
  return { id: cmd.id, body: resultBody(cmd, device.deviceId, outcome, fx.clock.now()) };
};

describe('outbox: result records', () => {
  it('are stored as kind result (id = command id, rev 0), once per command, never in the open-event ledger', () => {
    const ob = fx.outbox();
    const r = body();
    expect(ob.enqueueResult(r.id, r.body)).toBe('queued');
    const item = ob.get({ kind: 'result', eventId: r.id, rev: 0 })!;
    expect(item).toMatchObject({ kind: 'result', state: 'pending', priority: 0, bytes: r.body.length });
    expect(ob.body(item)!.equals(r.body)).toBe(true);
    // A second answer to the same command changes nothing (even with other bytes).
    expect(ob.enqueueResult(r.id, Buffer.from('{"other":1}'))).toBe('duplicate');
    expect(ob.body(item)!.equals(r.body)).toBe(true);
    expect(ob.openEvents.count()).toBe(0);
    expect(ob.stats().byKind.result.pending).toBe(1);
    expect(ob.stats().liveBytes).toBe(r.body.length + ROW_OVERHEAD_BYTES);
  });

  it('remembers the command id in the same transaction when asked (a refusal), and refuses oversized results', () => {
    const ob = fx.outbox();
    const r = body('refused');
    ob.enqueueResult(r.id, r.body, { id: r.id, kind: 'reboot', expiresAtMs: fx.clock.now() + 1_000 });
    expect(ob.commandSeen(r.id)).toBe(true);
    expect(ob.rememberCommand({ id: r.id, kind: 'reboot', expiresAtMs: fx.clock.now() + 1_000 })).toBe(false);
    const big = Buffer.alloc(COMMAND_RESULT_MAX_BYTES + 1, 0x20);
    expect(thrown(() => ob.enqueueResult('cmd_x', big)).code).toBe('result_too_large');
  });

  it('migration 6 rebuilds a v5 file: rows and seq kept; results and the commands table accepted', async () => {
    const { migrate } = await import('../outbox/schema.js');
    const db = new Database(fx.path);
    db.pragma('journal_mode = WAL');
    migrate(db, fx.path, 5);
    const rv = Buffer.from(JSON.stringify(makeReview()));
    const sha = createHash('sha256').update(rv).digest('hex');
    const ins = db
      .prepare(
        `INSERT INTO items (kind, event_id, rev, event_type, priority, state, bytes, sha256, attempts,
                            next_attempt_at, created_at) VALUES (?, ?, 0, 'new', 0, 'pending', ?, ?, 0, 0, 0)`,
      )
      .run('review', 'rev_01JGZ60B4W2Y8T6R5Q3P1N9M7K', rv.length, sha);
    db.prepare('INSERT INTO bodies (seq, body) VALUES (?, ?)').run(ins.lastInsertRowid, rv);
    expect(() => db.prepare("INSERT INTO items (kind) VALUES ('result')").run()).toThrow();
    expect(() => db.prepare('SELECT * FROM commands_seen').all()).toThrow(/no such table/);
    db.close();
    const ob = fx.outbox();
    expect(ob.stats().byKind.review.pending).toBe(1);
    expect(ob.stats().liveBytes).toBe(rv.length + ROW_OVERHEAD_BYTES);
    const r = body();
    ob.enqueueResult(r.id, r.body);
    expect(ob.get({ kind: 'result', eventId: r.id, rev: 0 })!.seq).toBe(Number(ins.lastInsertRowid) + 1);
    expect(ob.rememberCommand({ id: r.id, kind: 'status', expiresAtMs: fx.clock.now() })).toBe(true);
    ob.close();
    const check = new Database(fx.path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(OUTBOX_SCHEMA_VERSION);
    expect(OUTBOX_SCHEMA_VERSION).toBe(6);
    check.close();
  });
});

describe('uplink: result records', () => {
  it('are sent alone with sendResult and forgotten on an ack of kind result (accepted or duplicate)', async () => {
    const ob = fx.outbox({ clock: undefined });
    const t = new ResultTransport();
    t.answer = (id) => (id === second.id ? 'duplicate' : 'accepted');
    const first = body();
    const second = body();
    ob.enqueueResult(first.id, first.body);
    ob.enqueueResult(second.id, second.body);
    const uplink = uplinkOver(ob, t);
    await uplink.start();
    try {
      await waitFor('results acked', () => ob.stats().byKind.result.acked === 2, 10_000);
    } finally {
      await uplink.stop();
    }
    expect(t.results.map((r) => r.id).sort()).toEqual([first.id, second.id].sort());
    expect(t.results.find((r) => r.id === first.id)!.body.equals(first.body)).toBe(true);
    const sent = JSON.parse(t.results[0]!.body.toString()) as CommandResult;
    expect(sent.kind).toBe('command_result');
    expect(t.other).toEqual([]);
    for (const r of [first, second]) {
      expect(ob.get({ kind: 'result', eventId: r.id, rev: 0 })?.state).toBe('acked');
      expect(ob.body({ kind: 'result', eventId: r.id, rev: 0 })!.length).toBe(0); // the body is gone
    }
    expect(ob.depth()).toBe(0);
    expect(uplink.metrics.resultsSent).toBe(2);
  });

  it('a result the collector rejects is dead, like other items; an event ack never settles it', async () => {
    const ob = fx.outbox({ clock: undefined });
    const t = new ResultTransport();
    t.answer = () => 'rejected';
    const r = body();
    ob.enqueueResult(r.id, r.body);
    const uplink = uplinkOver(ob, t);
    uplink.applyAck({ v: 1, acks: [{ id: r.id, rev: 0, kind: 'event', status: 'accepted' }], server_time: '' }, false);
    expect(ob.get({ kind: 'result', eventId: r.id, rev: 0 })?.state).toBe('pending');
    await uplink.start();
    try {
      await waitFor('result dead', () => ob.stats().byKind.result.dead === 1, 10_000);
    } finally {
      await uplink.stop();
    }
    expect(ob.get({ kind: 'result', eventId: r.id, rev: 0 })).toMatchObject({ lastErrorCode: 'invalid_message' });
  });
});
