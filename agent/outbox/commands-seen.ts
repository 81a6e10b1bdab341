import type { Database as Db, Statement } from 'better-sqlite3';

/**
 * The ids of the commands the box accepted (ran or refused, firmware-protocol PROTOCOL.md §6), kept in the outbox
 * file so a command is never run twice, not even across a restart or a crash mid-run: the id is written (and
 * fsynced) before the command's handler runs. A row is kept until an hour after the command's `expires_at` — by
 * then the collector has ended the command and will not hand it out again — and purged with the next write.
 *
 * The table belongs to the outbox file (schema step 6); the command executor (agent/commands) reads and writes it
 * through `Outbox.commandSeen` / `Outbox.rememberCommand` / `Outbox.enqueueResult`.
 */

/** Part of schema step 6 of the outbox file (schema.ts). Times are epoch ms. */
export const COMMANDS_SEEN_TABLE = `
  CREATE TABLE commands_seen (
    command_id TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
  );
  CREATE INDEX commands_seen_expiry ON commands_seen (expires_at);
`;

/** How long after its expiry a command id is still remembered. */
export const COMMAND_SEEN_KEEP_MS = 60 * 60 * 1000;

/** One accepted command, as remembered. */
export interface SeenCommand {
  id: string;
  kind: string;
  /** Epoch ms of the command's `expires_at`. */
  expiresAtMs: number;
}

/** The statements on `commands_seen`; writes run inside the caller's transaction (outbox file discipline). */
export class CommandsSeen {
  private readonly st: Record<'has' | 'insert' | 'purge' | 'count', Statement>;

  constructor(db: Db) {
    this.st = {
      has: db.prepare('SELECT 1 AS x FROM commands_seen WHERE command_id = ?'),
      insert: db.prepare(
        `INSERT INTO commands_seen (command_id, kind, expires_at, seen_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (command_id) DO NOTHING`,
      ),
      purge: db.prepare('DELETE FROM commands_seen WHERE expires_at < ?'),
      count: db.prepare('SELECT count(*) AS n FROM commands_seen'),
    };
  }

  has(id: string): boolean {
    return this.st.has.get(id) !== undefined;
  }

  /** Records the id (inside a transaction); false when it was already there. Purges rows past their keep time. */
  remember(c: SeenCommand, nowMs: number): boolean {
    this.st.purge.run(nowMs - COMMAND_SEEN_KEEP_MS);
    return this.st.insert.run(c.id, c.kind, c.expiresAtMs, nowMs).changes > 0;
  }

  count(): number {
    return (this.st.count.get() as { n: number }).n;
  }
}
