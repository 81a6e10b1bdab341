import { describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../db/index.js';
import { openSqlite } from '../db/sqlite.js';

/**
 * Migration 13 made the time-ordered listing indexes ascending (inserts append at their right edge). The listings
 * order newest first: SQLite must still answer them by walking those indexes backwards, never by sorting.
 */
describe('listing indexes (migration 13)', () => {
  const plan = async (sql: string, params: string[]): Promise<string> => {
    const db = openSqlite({ path: ':memory:' });
    await migrate(db);
    const rows = await db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params);
    await db.close();
    return rows.map((r) => r.detail).join(' | ');
  };

  it.each([
    ['events of a tenant', 'events', 'tenant_id = ?', ['t'], 'events_tenant_started'],
    ['events of a device', 'events', 'tenant_id = ? AND device_id = ?', ['t', 'd'], 'events_tenant_device_started'],
    ['events of a label', 'events', 'tenant_id = ? AND label = ?', ['t', 'person'], 'events_tenant_label_started'],
    ['review items of a tenant', 'reviews', 'tenant_id = ?', ['t'], 'reviews_tenant_started'],
  ])('%s, newest first: an index walk, no sort', async (_what, table, where, params, index) => {
    const detail = await plan(
      `SELECT * FROM ${table} WHERE ${where} ORDER BY started_at DESC, id DESC LIMIT 50`,
      params as string[],
    );
    expect(detail).toContain(`USING INDEX ${index}`);
    expect(detail).not.toContain('TEMP B-TREE');
  });

  it('the indexes are ascending after the migration, under their old names', async () => {
    const db = openSqlite({ path: ':memory:' });
    await migrate(db);
    const rows = await db.all<{ name: string; sql: string }>(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE '%_tenant_%started' ORDER BY name",
    );
    await db.close();
    expect(rows.map((r) => r.name)).toEqual([
      'events_tenant_device_started',
      'events_tenant_label_started',
      'events_tenant_started',
      'reviews_tenant_started',
    ]);
    for (const r of rows) expect(r.sql).not.toMatch(/DESC/);
    expect(Math.max(...MIGRATIONS.map((m) => m.version))).toBeGreaterThanOrEqual(13);
  });
});
