import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import { projectRoot } from '../../shared/paths/index.js';
import { signHttpRequest, type DeviceCredentials } from '../../shared/signing/index.js';
import { inCI } from '../../shared/testing/index.js';
import { MIGRATIONS, migrate } from '../db/index.js';
import { openSqlite } from '../db/sqlite.js';
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
    const res = await t.api('/v1/pairing-codes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'porch' }),
    });
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
    const listed = (await (await t.api('/v1/pairing-codes')).json()) as {
      pairing_codes: Array<Record<string, unknown>>;
    };
    const entry = listed.pairing_codes.find((c) => c.id === created.id)!;
    expect(entry).toMatchObject({ id: created.id, name: 'porch', state: 'pending', expires_at: created.expires_at });
    expect(entry).not.toHaveProperty('hint');
    expect(JSON.stringify(listed)).not.toContain(bare.slice(-3));
    // The code still works (and only once).
    const paired = await fetch(t.url + '/v1/pair', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 1, code }),
    });
    expect(paired.status).toBe(200);
  });

  it('revokes by the code itself (keyed lookup) as well as by id', async () => {
    const made = async (): Promise<{ code: string; id: string }> =>
      (await (
        await t.api('/v1/pairing-codes', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
      ).json()) as { code: string; id: string };
    const a = await made();
    const b = await made();
    expect((await t.api(`/v1/pairing-codes/${a.code.toLowerCase()}`, { method: 'DELETE' })).status).toBe(200);
    expect((await t.api(`/v1/pairing-codes/${b.id}`, { method: 'DELETE' })).status).toBe(200);
    for (const c of [a, b]) {
      const r = await fetch(t.url + '/v1/pair', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v: 1, code: c.code }),
      });
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
      const insert =
        'INSERT INTO pairing_codes (id, tenant_id, name, code_sha256, hint, created_at, expires_at, used_at, ' +
        'used_by_device)' +
        ' VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
      await db.run(insert, [
        'pc_pending',
        'default',
        'old',
        sha256('vigil-pairing-code:K7QXM2PD'),
        'MPD',
        now - 1000,
        now + 600_000,
        null,
        null,
      ]);
      await db.run(insert, [
        'pc_used',
        'default',
        'older',
        sha256('vigil-pairing-code:ABCD2345'),
        '345',
        now - 5000,
        now + 600_000,
        now - 4000,
        'dev_x',
      ]);
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
      const hashes = (raw.prepare('SELECT code_sha256 FROM pairing_codes').all() as Array<{ code_sha256: string }>).map(
        (r) => r.code_sha256,
      );
      raw.close();
      expect(hashes).not.toContain(sha256('vigil-pairing-code:K7QXM2PD'));
      expect(hashes).not.toContain(sha256('vigil-pairing-code:ABCD2345'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Issue 10, finding 5, file modes: `vigil-cloud serve` run as the README shows (a shell with umask 022) left the
 * database 0644 and its folders 0755. Every folder the collector (and its CLI) creates must be 0700 and every file
 * 0600, whatever the umask; an existing data dir opened to others is tightened at start.
 */
const root = projectRoot();
const bin = join(root, 'bin', 'vigil-cloud.js');
const built = existsSync(join(root, 'dist', 'cloud', 'cli', 'main.js'));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', 'umask 022; exec "$@"', 'sh', process.execPath, bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, VIGIL_LOG_LEVEL: 'warn' },
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every path under `dir` (itself included) with its permission bits. */
function modes(dir: string): Array<{ path: string; dir: boolean; mode: number }> {
  const out: Array<{ path: string; dir: boolean; mode: number }> = [];
  const walk = (p: string): void => {
    const st = lstatSync(p);
    out.push({ path: p, dir: st.isDirectory(), mode: st.mode & 0o777 });
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
  };
  walk(dir);
  return out;
}

const fmt = (m: number): string => m.toString(8).padStart(4, '0');

describe.runIf(built)('collector files under umask 022', () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'vigil-modes-'));
  });
  afterAll(() => {
    rmSync(base, { recursive: true, force: true });
  });

  it('serve and the CLI create folders 0700 and files 0600: database, WAL, SHM, thumbnails, secrets key', async () => {
    const dir = join(base, 'fresh', 'vigil-data');
    const token = (
      JSON.parse(cli(['token', 'create', '--name', 'app', '--data-dir', dir, '--json']).stdout) as { token: string }
    ).token;
    const code = cli(['pair-code', 'create', '--data-dir', dir]).stdout.trim();
    expect(code).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    const listed = cli(['pair-code', 'list', '--data-dir', dir, '--json']);
    expect(listed.stdout).not.toContain('hint');
    expect(listed.stdout).not.toContain(code.slice(-3));

    const child: ChildProcess = spawn(
      '/bin/sh',
      [
        '-c',
        'umask 022; exec "$@"',
        'sh',
        process.execPath,
        bin,
        'serve',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--data-dir',
        dir,
      ],
      {
        env: { ...process.env, VIGIL_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /vigil-cloud listening on (https?:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
        child.on('exit', (c) => reject(new Error(`serve exited with ${c}: ${out}`)));
      });
      // A paired box sends an event with a thumbnail: the blob store writes its folders and file.
      const paired = await fetch(url + '/v1/pair', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v: 1, code }),
      });
      expect(paired.status).toBe(200);
      const p = (await paired.json()) as { device_id: string; key_id: string; secret_b64: string };
      const creds: DeviceCredentials = {
        deviceId: p.device_id,
        keyId: p.key_id,
        secret: Buffer.from(p.secret_b64, 'base64'),
      };
      const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 80, b: 20 } } })
        .jpeg()
        .toBuffer();
      const id = newEventId();
      const now = new Date().toISOString();
      const event = {
        v: 1,
        id,
        device_id: p.device_id,
        camera: 'front',
        type: 'new',
        rev: 0,
        label: 'person',
        score: 0.9,
        box: [0.1, 0.1, 0.5, 0.9],
        started_at: now,
        thumbnail: {
          sha256: createHash('sha256').update(jpeg).digest('hex'),
          size: jpeg.length,
          width: 64,
          height: 48,
          content_type: 'image/jpeg',
        },
      };
      const send = async (method: string, path: string, body: Buffer, type: string): Promise<number> => {
        const res = await fetch(url + path, {
          method,
          headers: { ...signHttpRequest(creds, method, path, body), 'content-type': type },
          body,
        });
        await res.arrayBuffer();
        return res.status;
      };
      expect(
        await send('POST', `/v1/devices/${p.device_id}/events`, Buffer.from(JSON.stringify(event)), 'application/json'),
      ).toBe(200);
      expect(await send('PUT', `/v1/devices/${p.device_id}/events/${id}/thumbnail`, jpeg, 'image/jpeg')).toBe(200);
      expect(
        (await fetch(url + `/v1/events/${id}/thumbnail`, { headers: { authorization: `Bearer ${token}` } })).status,
      ).toBe(200);

      const seen = modes(dir);
      const names = seen.map((e) => e.path.slice(dir.length) || '/');
      for (const expected of ['/', '/vigil.db', '/vigil.db-wal', '/vigil.db-shm', '/secrets.key'])
        expect(names).toContain(expected);
      expect(seen.filter((e) => !e.dir && /\.jpe?g$|thumbnails/.test(e.path)).length).toBeGreaterThan(0);
      const loose = seen
        .filter((e) => e.mode !== (e.dir ? 0o700 : 0o600))
        .map((e) => `${e.path.slice(dir.length) || '/'} ${fmt(e.mode)}`);
      expect(loose).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    // The parent the data dir was created in is the operator's (not ours to change).
  });

  it('tightens an existing data dir and database files left open to others by an older version', async () => {
    const dir = join(base, 'old');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    expect(cli(['token', 'create', '--name', 'app', '--data-dir', dir]).status).toBe(0);
    for (const f of ['vigil.db', 'secrets.key']) if (existsSync(join(dir, f))) chmodSync(join(dir, f), 0o644);
    writeFileSync(join(dir, 'secrets.key'), Buffer.alloc(32, 9).toString('base64') + '\n', { mode: 0o644 });
    chmodSync(join(dir, 'secrets.key'), 0o644);
    expect(cli(['token', 'list', '--data-dir', dir]).status).toBe(0);
    expect(cli(['pair-code', 'create', '--data-dir', dir]).status).toBe(0);
    const loose = modes(dir)
      .filter((e) => e.mode !== (e.dir ? 0o700 : 0o600))
      .map((e) => `${e.path.slice(dir.length) || '/'} ${fmt(e.mode)}`);
    expect(loose).toEqual([]);
  });
});

if (!built) {
  if (inCI) throw new Error('dist/ is missing: CI must run `npm run build` before the CLI tests');
  process.stderr.write('\n!!! SKIPPING collector file-mode tests: run `npm run build` first (npm test does)\n\n');
}
