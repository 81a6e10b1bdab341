import { createHash } from 'node:crypto';
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../store/migrations.js';
import { openSqlite } from '../store/sqlite.js';
import { openStore } from '../store/index.js';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

/**
 * Issue 10, finding 5 (secrets at rest), pairing codes: a pending code must not be recoverable from the database.
 * It used to be stored as SHA-256("vigil-pairing-code:" + code) beside its last three characters, which a laptop
 * searches through in seconds (31^5 candidates). Now it is an HMAC under a key derived from the server secrets key
 * (not in the database), and nothing about the code itself is kept or listed.
 */

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

function unkeyedHashes(code: string): string[] {
  const n = code.replace(/[-\s]/g, '').toUpperCase();
  return [sha256(`vigil-pairing-code:${n}`), sha256(n), sha256(code), sha256(`vigil-pairing-code:${code}`)];
}

interface CodeRow {
  id: string;
  code_sha256: string;
  hint: string;
  revoked_at: number | null;
}

describe('pairing codes at rest', () => {
  let t: TestCloud;
  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend);
  });
  afterAll(async () => {
    await t?.close();
  });

  const rows = (): CodeRow[] => {
    const db = new Database(join(t.db.dataDir, 'vigil.db'), { readonly: true });
    try {
      return db.prepare('SELECT id, code_sha256, hint, revoked_at FROM pairing_codes').all() as CodeRow[];
    } finally {
      db.close();
    }
  };

  it('stores a keyed hash that no unkeyed hash of the code matches, and no hint', async () => {
    const res = await t.api('/v1/pairing-codes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'porch' }) });
    expect(res.status).toBe(201);
    const created = (await res.json()) as Record<string, unknown>;
    const code = String(created.code);
    const row = rows().find((r) => r.id === created.id)!;
    expect(row).toBeDefined();
    expect(row.code_sha256).toMatch(/^[0-9a-f]{64}$/);
    for (const h of unkeyedHashes(code)) expect(row.code_sha256).not.toBe(h);
    const bare = code.replace('-', '');
    for (let n = 1; n <= 4; n++) expect(row.hint).not.toContain(bare.slice(-n));
    expect(row.hint).toBe('');
    // The API shows the code once (here) and never a fragment of it afterwards.
    expect(created).not.toHaveProperty('hint');
    const listed = (await (await t.api('/v1/pairing-codes')).json()) as { pairing_codes: Array<Record<string, unknown>> };
    const entry = listed.pairing_codes.find((c) => c.id === created.id)!;
    expect(entry).toMatchObject({ id: created.id, name: 'porch', state: 'pending', expires_at: created.expires_at });
    expect(entry).not.toHaveProperty('hint');
    expect(JSON.stringify(listed)).not.toContain(bare.slice(-3));
    // The code still works (and only once).
    const paired = await fetch(t.url + '/v1/pair', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ v: 1, code }) });
    expect(paired.status).toBe(200);
  });

  it('revokes by the code itself (keyed lookup) as well as by id', async () => {
    const made = async (): Promise<{ code: string; id: string }> =>
      (await (await t.api('/v1/pairing-codes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()) as { code: string; id: string };
    const a = await made();
    const b = await made();
    expect((await t.api(`/v1/pairing-codes/${a.code.toLowerCase()}`, { method: 'DELETE' })).status).toBe(200);
    expect((await t.api(`/v1/pairing-codes/${b.id}`, { method: 'DELETE' })).status).toBe(200);
    for (const c of [a, b]) {
      const r = await fetch(t.url + '/v1/pair', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ v: 1, code: c.code }) });
      expect(r.status).toBe(400);
    }
  });
});

describe('codes stored under the old unkeyed scheme', () => {
  it('are revoked by the upgrade, their hash and hint wiped; used codes keep their history', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-codes-migration-'));
    try {
      const before = MIGRATIONS.filter((m) => m.version <= 3);
      const db = openSqlite({ path: join(dir, 'vigil.db') });
      await migrate(db, before);
      const now = Date.now();
      const insert = 'INSERT INTO pairing_codes (id, tenant_id, name, code_sha256, hint, created_at, expires_at, used_at, used_by_device) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
      await db.run(insert, ['pc_pending', 'default', 'old', sha256('vigil-pairing-code:K7QXM2PD'), 'MPD', now - 1000, now + 600_000, null, null]);
      await db.run(insert, ['pc_used', 'default', 'older', sha256('vigil-pairing-code:ABCD2345'), '345', now - 5000, now + 600_000, now - 4000, 'dev_x']);
      await db.close();

      const store = await openStore({ dataDir: dir });
      const listed = await store.listPairingCodes('default');
      await store.close();
      const pending = listed.find((r) => r.id === 'pc_pending')!;
      const used = listed.find((r) => r.id === 'pc_used')!;
      expect(pending.revokedAt).not.toBeNull();
      expect(pending.hint).toBe('');
      expect(used).toMatchObject({ revokedAt: null, usedByDevice: 'dev_x', hint: '' });
      const raw = new Database(join(dir, 'vigil.db'), { readonly: true });
      const hashes = (raw.prepare('SELECT code_sha256 FROM pairing_codes').all() as Array<{ code_sha256: string }>).map((r) => r.code_sha256);
      raw.close();
      expect(hashes).not.toContain(sha256('vigil-pairing-code:K7QXM2PD'));
      expect(hashes).not.toContain(sha256('vigil-pairing-code:ABCD2345'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
