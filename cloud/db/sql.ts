/**
 * The few things the store needs from a SQL database, so one store implementation serves SQLite and PostgreSQL.
 * Statements are written once with `?` placeholders (PostgreSQL's adapter numbers them) in SQL both dialects
 * understand: ON CONFLICT, RETURNING, BIGINT milliseconds, DOUBLE PRECISION, TEXT JSON.
 */
export type SqlValue = string | number | bigint | null | boolean;

export interface SqlRunResult {
  changes: number;
}

export interface SqlExecutor {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<SqlRunResult>;
}

export interface SqlDatabase extends SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  /** ` FOR UPDATE` where row locks exist (PostgreSQL); empty for SQLite, whose write transactions are exclusive. */
  readonly forUpdate: string;
  /** Runs `fn` in one transaction; commits (durably) when it resolves, rolls back when it throws. */
  tx<T>(fn: (x: SqlExecutor) => Promise<T>): Promise<T>;
  /** Runs DDL text (several statements). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** `?` → `$1, $2, …` for PostgreSQL. The store's SQL never has a `?` inside a string literal. */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
