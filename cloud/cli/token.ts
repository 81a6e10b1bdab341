import type { Command } from 'commander';
import { VigilError } from '../errors.js';
import { createApiToken } from '../auth/tokens.js';
import type { Role } from '../store/store.js';
import { parseChoice, printJson, withStore, withTenantOptions, type TenantOpts } from './common.js';

/**
 * `vigil-cloud token create|list|revoke`: API tokens for apps. A token is shown once, at creation; the database
 * keeps its SHA-256 only.
 */

export function registerToken(program: Command): void {
  const cmd = program.command('token').description('create, list and revoke API tokens for apps');

  withTenantOptions(cmd.command('create').description('create an API token (printed once)'))
    .requiredOption('-n, --name <name>', 'what the token is for, e.g. "phone app"')
    .option('-r, --role <role>', 'admin (may pair and manage devices) or reader', 'reader')
    .action(async (o: TenantOpts & { name: string; role: string }) => {
      const role = parseChoice<Role>(o.role, ['admin', 'reader'], '--role');
      await withStore(o, async (store) => {
        const { token, record } = await createApiToken(store, { tenantId: o.tenant, name: o.name, role });
        if (o.json)
          return printJson({
            token,
            id: record.id,
            name: record.name,
            role: record.role,
            tenant: record.tenantId,
            created_at: new Date(record.createdAt).toISOString(),
          });
        process.stdout.write(`${token}\n`);
        process.stderr.write(
          `${role} token "${record.name}" (${record.id}) for tenant ${record.tenantId}; it is not shown again\n`,
        );
      });
    });

  withTenantOptions(cmd.command('list').description('list tokens (never the tokens themselves)')).action(
    async (o: TenantOpts) => {
      await withStore(o, async (store) => {
        const rows = (await store.listApiTokens(o.tenant)).map((r) => ({
          id: r.id,
          name: r.name,
          role: r.role,
          created_at: new Date(r.createdAt).toISOString(),
          revoked_at: r.revokedAt === null ? null : new Date(r.revokedAt).toISOString(),
        }));
        if (o.json) return printJson({ tokens: rows });
        for (const r of rows)
          process.stdout.write(`${r.id}  ${r.role.padEnd(6)}  ${r.revoked_at ? 'revoked ' : 'active  '}  ${r.name}\n`);
      });
    },
  );

  withTenantOptions(cmd.command('revoke').description('revoke a token').argument('<id>', 'token id (tok_…)')).action(
    async (id: string, o: TenantOpts) => {
      await withStore(o, async (store) => {
        if (!(await store.revokeApiToken(o.tenant, id, Date.now())))
          throw new VigilError('not_found', `no active token ${id} in tenant ${o.tenant}`);
        if (o.json) return printJson({ revoked: true });
        process.stdout.write('revoked\n');
      });
    },
  );
}
