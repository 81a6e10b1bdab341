import type { Command } from 'commander';
import { join } from 'node:path';
import { VigilError } from '../errors.js';
import { DEFAULT_AGENT_DATA_DIR } from '../config.js';
import {
  ITEM_KINDS,
  ITEM_STATES,
  Outbox,
  OUTBOX_FILE,
  type ItemKind,
  type ItemState,
  type OutboxItem,
  type OutboxStats,
} from '../outbox/index.js';
import { REVIEWS_REJECTED, REVIEWS_UNSUPPORTED } from '../uplink/review-delivery.js';

/**
 * `vigil-agent outbox list|stats|retry|purge`: the field tech's view into the store-and-forward queue. Safe to run
 * beside a live daemon (SQLite WAL; the CLI never touches in-flight leases). `list` and `stats` only read: they
 * work on a full disk too, with the daemon running or stopped.
 */

interface CommonOpts {
  dataDir?: string;
  json?: boolean;
  quarantineCorrupt?: boolean;
}

function dataDir(o: CommonOpts): string {
  return o.dataDir || process.env.VIGIL_DATA_DIR || DEFAULT_AGENT_DATA_DIR;
}

function withOutbox<T>(o: CommonOpts, fn: (ob: Outbox) => T, readonly = false): T {
  // Reading never quarantines: --quarantine-corrupt needs a write, so it turns a read into a normal open.
  const ro = readonly && !o.quarantineCorrupt;
  const ob = Outbox.open({
    path: join(dataDir(o), OUTBOX_FILE),
    create: false,
    quarantine: o.quarantineCorrupt ?? false,
    readonly: ro,
  });
  try {
    if (ob.quarantinedTo)
      process.stderr.write(
        `vigil-agent: the outbox file was moved aside to ${ob.quarantinedTo}; started an empty outbox\n`,
      );
    return fn(ob);
  } finally {
    ob.close();
  }
}

function parseStates(value: string | undefined): ItemState[] | undefined {
  if (value === undefined) return undefined;
  if (value === 'all') return [...ITEM_STATES];
  const states = value.split(',').map((s) => s.trim());
  for (const s of states) {
    if (!(ITEM_STATES as readonly string[]).includes(s))
      throw new VigilError(
        'invalid_argument',
        `--state must be a comma list of ${ITEM_STATES.join(', ')} or "all", got "${s}"`,
      );
  }
  return states as ItemState[];
}

function parseKind(value: string | undefined): ItemKind | undefined {
  if (value === undefined) return undefined;
  if ((ITEM_KINDS as readonly string[]).includes(value)) return value as ItemKind;
  throw new VigilError('invalid_argument', `--kind must be one of ${ITEM_KINDS.join(', ')}, got "${value}"`);
}

/**
 * Review records at a glance: how many wait or are in flight, and how many were let go — the collector predates
 * review items (`unsupported`) or rejected them (`rejected`); both are dropped quietly, never dead.
 */
interface ReviewStats {
  pending: number;
  in_flight: number;
  dropped: number;
  unsupported: number;
  rejected: number;
}

function reviewStats(s: OutboxStats): ReviewStats {
  const r = s.byKind.review;
  return {
    pending: r.pending,
    in_flight: r.in_flight,
    dropped: r.dropped,
    unsupported: s.counters[REVIEWS_UNSUPPORTED] ?? 0,
    rejected: s.counters[REVIEWS_REJECTED] ?? 0,
  };
}

function reviewLine(r: ReviewStats): string {
  return (
    `reviews: pending ${r.pending}, in flight ${r.in_flight}, dropped ${r.dropped}   ` +
    `${REVIEWS_UNSUPPORTED} ${r.unsupported} (collector predates review items)   ${REVIEWS_REJECTED} ${r.rejected}`
  );
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new VigilError('invalid_argument', `--limit must be an integer within 1..100000, got "${value}"`);
  return n;
}

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

function age(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}

function itemLine(i: OutboxItem, now: number): string {
  const due =
    i.state === 'pending'
      ? i.nextAttemptAt > now
        ? `in ${age(i.nextAttemptAt - now)}`
        : 'now'
      : i.state === 'in_flight'
        ? `lease ${age((i.leaseUntil ?? now) - now)}`
        : '-';
  const err = i.lastErrorCode ? `${i.lastErrorCode}${i.lastError ? `: ${i.lastError}` : ''}` : '';
  return [
    String(i.seq).padStart(7),
    i.kind.padEnd(9),
    i.eventId.padEnd(30),
    String(i.rev).padStart(3),
    i.eventType.padEnd(6),
    i.state.padEnd(9),
    String(i.attempts).padStart(4),
    due.padEnd(10),
    String(i.bytes).padStart(8),
    err,
  ].join(' ');
}

function common(cmd: Command): Command {
  return cmd
    .option(
      '--data-dir <dir>',
      `agent data directory holding ${OUTBOX_FILE} (default $VIGIL_DATA_DIR or ${DEFAULT_AGENT_DATA_DIR})`,
    )
    .option('--json', 'print JSON')
    .option(
      '--quarantine-corrupt',
      'if the outbox file is corrupt or foreign, rename it to outbox.db.corrupt-<time> and start an empty one',
    );
}

export function registerOutbox(program: Command): void {
  const outbox = program
    .command('outbox')
    .description(
      'Inspect and manage the store-and-forward outbox (events, thumbnails and review items waiting for the collector)',
    );

  common(outbox.command('list'))
    .description('List outbox items (default: un-acked ones: pending, in_flight, dead)')
    .option('--state <states>', `comma list of ${ITEM_STATES.join(', ')}, or "all"`)
    .option('--kind <kind>', ITEM_KINDS.join(', '))
    .option('--limit <n>', 'most items to show', '100')
    .action((o: CommonOpts & { state?: string; kind?: string; limit: string }) => {
      const states = parseStates(o.state);
      const kind = parseKind(o.kind);
      const limit = parseLimit(o.limit);
      withOutbox(
        o,
        (ob) => {
          const items = ob.list({ ...(states ? { states } : {}), ...(kind ? { kind } : {}), limit });
          if (o.json) {
            process.stdout.write(JSON.stringify({ items }) + '\n');
            return;
          }
          const now = Date.now();
          const head = [
            'seq'.padStart(7),
            'kind'.padEnd(9),
            'id'.padEnd(30),
            'rev'.padStart(3),
            'type'.padEnd(6),
            'state'.padEnd(9),
            'try'.padStart(4),
            'due'.padEnd(10),
            'bytes'.padStart(8),
            'last error',
          ].join(' ');
          process.stdout.write(
            [head, ...items.map((i) => itemLine(i, now)), `${items.length} item(s)`].join('\n') + '\n',
          );
        },
        true,
      );
    });

  common(outbox.command('stats'))
    .description('Show outbox depth, ages, bytes against the budget, and dropped/refused counters')
    .action((o: CommonOpts) => {
      withOutbox(
        o,
        (ob) => {
          const s = ob.stats();
          const reviews = reviewStats(s);
          if (o.json) {
            process.stdout.write(JSON.stringify({ ...s, reviews }) + '\n');
            return;
          }
          const t = s.total;
          const lines = [
            `outbox ${s.path}`,
            `depth ${s.depth} (pending ${t.pending}, in flight ${t.in_flight}, dead ${t.dead}; ${s.backingOff} ` +
              `backing off)   acked ${t.acked}   dropped ${t.dropped}`,
            `events: pending ${s.byKind.event.pending}, in flight ${s.byKind.event.in_flight}, ` +
              `dead ${s.byKind.event.dead}   thumbnails: pending ${s.byKind.thumbnail.pending}, in ` +
              `flight ${s.byKind.thumbnail.in_flight}, dead ${s.byKind.thumbnail.dead}`,
            reviewLine(reviews),
            `command results: pending ${s.byKind.result.pending}, in flight ${s.byKind.result.in_flight}, ` +
              `dead ${s.byKind.result.dead}`,
            `oldest un-acked ${age(s.oldestPendingAgeMs)}   next due ${iso(s.nextDueAt)}`,
            `bytes ${s.liveBytes} of budget ${s.budgetBytes} (file ${s.fileBytes})${s.diskFull ? '   DISK FULL' : ''}`,
            `disk ${s.freeBytes === null ? '?' : s.freeBytes} bytes free   reserve ${s.reserve}` +
              (s.diskFull ? '   (disk full: free space; queued items are kept and sending goes on)' : ''),
            `refused: disk full ${s.refused.disk_full}, over budget ${s.refused.outbox_full}   ` +
              `thumbnails skipped ${s.thumbnailsSkipped}   held in memory ${s.held}   dropped ${s.dropped}`,
            `counters ${
              Object.keys(s.counters).length === 0
                ? '-'
                : Object.entries(s.counters)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(' ')
            }`,
          ];
          process.stdout.write(lines.join('\n') + '\n');
        },
        true,
      );
    });

  common(outbox.command('retry'))
    .description('Make dead and backing-off items due now')
    .action((o: CommonOpts) => {
      withOutbox(o, (ob) => {
        const n = ob.retryNow();
        process.stdout.write(o.json ? JSON.stringify({ retried: n }) + '\n' : `${n} item(s) are due now\n`);
      });
    });

  common(outbox.command('purge'))
    .description('Delete acked, dropped and dead items (with --all also every un-sent item); needs --yes')
    .option('--all', 'also delete pending and in-flight items: those events are then lost')
    .option('--yes', 'really delete')
    .action((o: CommonOpts & { all?: boolean; yes?: boolean }) => {
      withOutbox(o, (ob) => {
        const p = ob.purgePreview(o.all ?? false);
        const total = p.pending + p.in_flight + p.acked + p.dead + p.dropped;
        if (!o.yes) {
          const what =
            `${total} item(s): acked ${p.acked}, dropped ${p.dropped}, ` +
            `dead ${p.dead}${o.all ? `, pending ${p.pending}, in flight ${p.in_flight} (never delivered)` : ''}`;
          throw new VigilError('confirmation_required', `purge would delete ${what}; re-run with --yes to do it`, {
            details: { exitCode: 2 },
          });
        }
        const n = ob.purge(o.all ?? false);
        process.stdout.write(o.json ? JSON.stringify({ deleted: n }) + '\n' : `deleted ${n} item(s)\n`);
      });
    });
}
