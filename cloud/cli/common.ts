import type { Command } from 'commander';
import { VigilError } from '../errors.js';
import { loadCloudConfig, type CloudConfig } from '../config.js';
import { secureDataDir } from '../server/data-dir.js';
import { openDatabase, type SqlDatabase } from '../db/index.js';
import { SqlStore } from '../store/index.js';
import type { Store } from '../store/store.js';
import { resolve } from 'node:path';

/** Options every collector command takes: where its config and data are. */
export interface ConfigOpts {
  config?: string;
  dataDir?: string;
}

export function cliConfig(o: ConfigOpts, overrides: Record<string, unknown> = {}): CloudConfig {
  // VIGIL_CLOUD_CONFIG: set by the installed wrapper (scripts/install-cloud.sh) so every command reads
  // /etc/vigil/cloud.yaml.
  return loadCloudConfig({
    file: o.config ?? (process.env.VIGIL_CLOUD_CONFIG || undefined),
    overrides: { ...(o.dataDir ? { data_dir: o.dataDir } : {}), ...overrides },
  }).config;
}

/** Options of the commands that manage tenant-owned records in the database (`pair-code`, `token`). */
export interface TenantOpts extends ConfigOpts {
  tenant: string;
  json?: boolean;
}

export function withTenantOptions(c: Command): Command {
  return c
    .option('-c, --config <file>', 'YAML config file')
    .option('-d, --data-dir <dir>', 'data directory')
    .option('--tenant <id>', 'tenant', 'default')
    .option('--json', 'machine-readable output');
}

/** Opens the configured database (migrating it if needed), runs `fn`, closes it. */
export async function withDatabase<T>(
  o: ConfigOpts,
  fn: (db: SqlDatabase, config: CloudConfig) => Promise<T>,
): Promise<T> {
  const config = cliConfig(o);
  // The SQLite database lives in the data dir: owner-only, as serve keeps it (cloud/server/data-dir.ts).
  if (!config.database.url) secureDataDir(resolve(config.data_dir));
  const db = await openDatabase({
    url: config.database.url,
    dataDir: resolve(config.data_dir),
    schema: config.database.schema,
    poolMax: 2,
    sqliteSynchronous: config.database.sqlite.synchronous,
  });
  try {
    return await fn(db, config);
  } finally {
    await db.close();
  }
}

/** withDatabase() with the store over it. */
export function withStore<T>(o: ConfigOpts, fn: (store: Store, config: CloudConfig) => Promise<T>): Promise<T> {
  return withDatabase(o, (db, config) => fn(new SqlStore(db), config));
}

export function parseChoice<T extends string>(value: string, choices: readonly T[], flag: string): T {
  if (!(choices as readonly string[]).includes(value))
    throw new VigilError('invalid_argument', `${flag} must be one of ${choices.join(', ')}, got "${value}"`, {
      details: { exitCode: 2 },
    });
  return value as T;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
