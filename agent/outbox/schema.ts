import type { Database } from 'better-sqlite3';
import { VigilError } from '../errors.js';
import { COMMANDS_SEEN_TABLE } from './commands-seen.js';
import { OPEN_EVENTS_TABLE } from './open-events.js';

/**
 * The outbox file's layout, versioned with `PRAGMA user_version`. Each migration runs in one transaction, so a
 * crash mid-migration leaves the previous version intact. The file is marked as ours with `PRAGMA application_id`
 * so a foreign SQLite file at the outbox path is recognised instead of being "migrated".
 */

/** 'VGOB' — identifies a Vigil outbox file. */
export const OUTBOX_APPLICATION_ID = 0x5647_4f42;

/** Per-row bytes charged to the disk budget on top of the body (row header, index entries). */
export const ROW_OVERHEAD_BYTES = 256;

const LIVE = "('pending','in_flight','dead')";
const charge = (row: 'NEW' | 'OLD'): string =>
  `(CASE WHEN ${row}.state IN ${LIVE} THEN ${row}.bytes + ${ROW_OVERHEAD_BYTES} ELSE 0 END)`;
const count = (row: 'NEW' | 'OLD'): string => `(CASE WHEN ${row}.state IN ${LIVE} THEN 1 ELSE 0 END)`;

/** The budget triggers of `items` (migration 1; re-created by migration 5, which rebuilds the table). */
const BUDGET_TRIGGERS = `
  CREATE TRIGGER items_budget_insert AFTER INSERT ON items BEGIN
    UPDATE totals SET live_bytes = live_bytes + ${charge('NEW')},
                      live_items = live_items + ${count('NEW')} WHERE id = 1;
  END;
  CREATE TRIGGER items_budget_update AFTER UPDATE OF state, bytes ON items BEGIN
    UPDATE totals SET live_bytes = live_bytes - ${charge('OLD')} + ${charge('NEW')},
                      live_items = live_items - ${count('OLD')} + ${count('NEW')} WHERE id = 1;
  END;
  CREATE TRIGGER items_budget_delete AFTER DELETE ON items BEGIN
    UPDATE totals SET live_bytes = live_bytes - ${charge('OLD')},
                      live_items = live_items - ${count('OLD')} WHERE id = 1;
  END;
`;

/** The triggers that free bodies (migration 3; re-created by migration 5). */
const BODY_TRIGGERS = `
  CREATE TRIGGER items_body_free AFTER UPDATE OF state ON items WHEN NEW.state IN ('acked','dropped') BEGIN
    DELETE FROM bodies WHERE seq = NEW.seq;
  END;
  CREATE TRIGGER items_body_delete AFTER DELETE ON items BEGIN
    DELETE FROM bodies WHERE seq = OLD.seq;
  END;
`;

const ITEM_INDEXES = `
  CREATE INDEX items_due ON items (state, kind, priority, seq);
  CREATE INDEX items_event ON items (event_id, kind, rev);
  CREATE INDEX items_next ON items (state, next_attempt_at);
  CREATE INDEX items_lease ON items (state, lease_until);
`;

/**
 * Rebuilds `items` to allow another set of kinds (SQLite cannot change a CHECK constraint in place): same columns
 * and rows (seq kept, and the AUTOINCREMENT high-water mark), then its indexes and triggers again. The budget totals
 * are untouched: no row changes state or size, and dropping a table fires no trigger (they are dropped first anyway).
 * Step 5 used it for review records (`kind = 'review'`, issue 13), step 6 for result records (`kind = 'result'`,
 * issue 17).
 */
const rebuildItems = (step: number, kinds: string): string => `
  DROP TRIGGER items_budget_insert;
  DROP TRIGGER items_budget_update;
  DROP TRIGGER items_budget_delete;
  DROP TRIGGER items_body_free;
  DROP TRIGGER items_body_delete;
  CREATE TABLE items_v${step} (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind IN (${kinds})),
    event_id        TEXT    NOT NULL,
    rev             INTEGER NOT NULL CHECK (rev >= 0),
    event_type      TEXT    NOT NULL CHECK (event_type IN ('new','update','end')),
    priority        INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending','in_flight','acked','dead','dropped')),
    bytes           INTEGER NOT NULL,
    sha256          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    done_at         INTEGER,
    last_error_code TEXT,
    last_error      TEXT,
    UNIQUE (kind, event_id, rev)
  );
  INSERT INTO items_v${step} (seq, kind, event_id, rev, event_type, priority, state, bytes, sha256, attempts,
                        next_attempt_at, lease_until, created_at, done_at, last_error_code, last_error)
    SELECT seq, kind, event_id, rev, event_type, priority, state, bytes, sha256, attempts,
           next_attempt_at, lease_until, created_at, done_at, last_error_code, last_error FROM items;
  DELETE FROM sqlite_sequence WHERE name = 'items_v${step}';
  INSERT INTO sqlite_sequence (name, seq) SELECT 'items_v${step}', seq FROM sqlite_sequence WHERE name = 'items';
  DROP TABLE items;
  ALTER TABLE items_v${step} RENAME TO items;
  ${ITEM_INDEXES}
  ${BUDGET_TRIGGERS}
  ${BODY_TRIGGERS}
`;

/** Step 5: review records (`kind = 'review'`, a protocol Review per id+rev, issue 13). */
const REVIEW_ITEMS = rebuildItems(5, "'event','thumbnail','review'");

/**
 * Step 6: result records (`kind = 'result'`, the CommandResult of one command, issue 17) and the ids of the
 * commands the box accepted (commands-seen.ts), so a restart never runs one twice.
 */
const RESULT_ITEMS = `${rebuildItems(6, "'event','thumbnail','review','result'")}
  ${COMMANDS_SEEN_TABLE}
`;

const MIGRATIONS: readonly string[] = [
  // 1: items, budget totals kept by triggers (correct even when the CLI edits the file beside the daemon), counters.
  `
  CREATE TABLE items (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind IN ('event','thumbnail')),
    event_id        TEXT    NOT NULL,
    rev             INTEGER NOT NULL CHECK (rev >= 0),
    event_type      TEXT    NOT NULL CHECK (event_type IN ('new','update','end')),
    priority        INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending','in_flight','acked','dead','dropped')),
    body            BLOB    NOT NULL,
    bytes           INTEGER NOT NULL,
    sha256          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    done_at         INTEGER,
    last_error_code TEXT,
    last_error      TEXT,
    UNIQUE (kind, event_id, rev)
  );
  CREATE INDEX items_due ON items (state, kind, priority, seq);
  CREATE INDEX items_event ON items (event_id, kind, rev);
  CREATE TABLE totals (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    live_bytes INTEGER NOT NULL,
    live_items INTEGER NOT NULL
  );
  INSERT INTO totals (id, live_bytes, live_items) VALUES (1, 0, 0);
  ${BUDGET_TRIGGERS}
  CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  `,
  // 2: finding the next due time / expired leases without scanning every pending row during a long outage.
  `
  CREATE INDEX items_next ON items (state, next_attempt_at);
  CREATE INDEX items_lease ON items (state, lease_until);
  `,
  // 3: bodies in their own table. A state change (claim, ack, retry) then rewrites a ~100-byte row instead of the
  // row with its 20 KB thumbnail (SQLite rewrites a whole record on UPDATE): less write amplification on SD cards.
  // Bodies are freed by a trigger when an item is acked or dropped, and with their row.
  `
  CREATE TABLE bodies (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
  INSERT INTO bodies (seq, body) SELECT seq, body FROM items WHERE state IN ('pending','in_flight','dead');
  ALTER TABLE items DROP COLUMN body;
  ${BODY_TRIGGERS}
  `,
  // 4: the open-event ledger (open-events.ts): events announced and not ended, written with each event enqueue.
  OPEN_EVENTS_TABLE,
  // 5: review records (kind 'review').
  REVIEW_ITEMS,
  // 6: result records (kind 'result') and the table of commands seen.
  RESULT_ITEMS,
];

export const OUTBOX_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the file to the current version (or `upTo`, for tests). Refuses a file written by a newer agent rather than
 * guessing.
 */
export function migrate(db: Database, path: string, upTo = OUTBOX_SCHEMA_VERSION): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > OUTBOX_SCHEMA_VERSION) {
    throw new VigilError(
      'outbox_too_new',
      `outbox ${path} has schema version ${version}, this agent knows up to ${OUTBOX_SCHEMA_VERSION}; upgrade the ` +
        `agent (the file is left untouched)`,
      { details: { path, version, known: OUTBOX_SCHEMA_VERSION } },
    );
  }
  for (let v = version; v < Math.min(upTo, OUTBOX_SCHEMA_VERSION); v++) {
    const sql = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
      db.pragma(`application_id = ${OUTBOX_APPLICATION_ID}`);
    })();
  }
}
