import { resolve } from 'node:path';
import type { Command } from 'commander';
import { VigilError } from '../errors.js';
import type { CloudConfig } from '../config.js';
import { createPairingCode, pairingCodeJson, parseTtl, revokePairingCode } from '../pairing/codes.js';
import { loadSecretsKey, SecretBox } from '../pairing/secret-box.js';
import { isPostgresUrl } from '../db/index.js';
import { printJson, withStore, withTenantOptions, type TenantOpts } from './common.js';

/**
 * `vigil-cloud pair-code create|list|revoke`: one-time codes a box exchanges for its credentials (POST /v1/pair).
 * Works on the database directly, beside a running `serve`. Codes are stored under a keyed hash, so `create` and
 * `revoke <code>` need the collector's secrets key: `secrets.key`, or `<data_dir>/secrets.key` (created here only for
 * SQLite, whose database lives in the same data dir; with PostgreSQL a missing key means another data dir than the
 * collector's, and a code hashed under a new key would never pair).
 */
function secretsFor(config: CloudConfig): SecretBox {
  return new SecretBox(
    loadSecretsKey(config.secrets.key, resolve(config.data_dir), { create: !isPostgresUrl(config.database.url) }),
  );
}

export function registerPairCode(program: Command): void {
  const cmd = program.command('pair-code').description('create, list and revoke pairing codes');

  withTenantOptions(cmd.command('create').description('create a single-use pairing code'))
    .option('-n, --name <name>', 'name the paired box will get')
    .option('--ttl <duration>', 'validity, e.g. 15m, 1h (default pairing.code_ttl)')
    .action(async (o: TenantOpts & { name?: string; ttl?: string }) => {
      await withStore(o, async (store, config) => {
        const ttlMs = parseTtl(o.ttl ?? config.pairing.code_ttl);
        const now = Date.now();
        const { code, record } = await createPairingCode(store, secretsFor(config), {
          tenantId: o.tenant,
          name: o.name ?? null,
          ttlMs,
          now,
        });
        if (o.json) return printJson(pairingCodeJson(record, now, code));
        process.stdout.write(`${code}\n`);
        process.stderr.write(
          `pairing code for tenant ${record.tenantId}${record.name ? `, box "${record.name}"` : ''}: single use, ` +
            `expires ${new Date(record.expiresAt).toISOString()} (in ${Math.round(ttlMs / 60_000)} min)\n`,
        );
      });
    });

  withTenantOptions(
    cmd.command('list').description('list pairing codes and their state (codes themselves are not stored)'),
  ).action(async (o: TenantOpts) => {
    await withStore(o, async (store) => {
      const now = Date.now();
      const rows = (await store.listPairingCodes(o.tenant)).map((r) => pairingCodeJson(r, now));
      if (o.json) return printJson({ pairing_codes: rows });
      if (rows.length === 0) return void process.stdout.write('no pairing codes\n');
      for (const r of rows)
        process.stdout.write(
          `${r.id}  ${String(r.state).padEnd(8)}  expires ${r.expires_at}  ` +
            `${r.name ?? ''}${r.device_id ? `  → ${r.device_id}` : ''}\n`,
        );
    });
  });

  withTenantOptions(
    cmd.command('revoke').description('revoke a pending code').argument('<code>', 'the code, or its id (pc_…)'),
  ).action(async (code: string, o: TenantOpts) => {
    await withStore(o, async (store, config) => {
      const ok = await revokePairingCode(store, secretsFor(config), o.tenant, code);
      if (!ok) throw new VigilError('not_found', `no pending pairing code "${code}" in tenant ${o.tenant}`);
      if (o.json) return printJson({ revoked: true });
      process.stdout.write('revoked\n');
    });
  });
}
