import type { Command } from 'commander';
import { VigilError } from '../errors.js';
import { deadLetterJson } from '../api/dead-letters.js';
import { SqlDeadLetters } from '../store/dead-letters.js';
import { printJson, withDatabase, type ConfigOpts } from './common.js';

/**
 * `vigil-cloud dead-letter list|show`: messages the collector set aside after failing on them repeatedly on its own
 * side (cloud/ingest/dead-letter.ts). The operator's view, across tenants unless `--tenant` is given; apps with an
 * admin token see their tenant's through GET /v1/admin/dead-letters.
 */
interface ListOpts extends ConfigOpts {
  tenant?: string;
  all?: boolean;
  limit: string;
  json?: boolean;
}

export function registerDeadLetter(program: Command): void {
  const cmd = program
    .command('dead-letter')
    .description('list and show messages set aside after repeated failures on the collector side');

  cmd
    .command('list')
    .description('dead letters, newest first')
    .option('-c, --config <file>', 'YAML config file')
    .option('-d, --data-dir <dir>', 'data directory')
    .option('--tenant <id>', 'only this tenant (default: all tenants)')
    .option('--all', 'also messages still failing (not yet set aside)')
    .option('-n, --limit <n>', 'most rows', '50')
    .option('--json', 'machine-readable output')
    .action(async (o: ListOpts) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new VigilError('invalid_argument', `--limit must be 1-10000, got "${o.limit}"`, {
          details: { exitCode: 2 },
        });
      }
      await withDatabase(o, async (db) => {
        const filter = { tenantId: o.tenant, includeFailing: o.all === true, limit };
        const rows = await new SqlDeadLetters(db).list(filter);
        if (o.json) return printJson({ dead_letters: rows.map(deadLetterJson) });
        if (rows.length === 0) return void process.stdout.write('no dead letters\n');
        for (const r of rows) {
          const when = new Date(r.deadAt ?? r.lastSeenAt).toISOString();
          const error = `${r.errorCode}: ${r.errorMessage.split('\n')[0]!.slice(0, 120)}`;
          const cols = [
            r.id,
            r.state.padEnd(7),
            when,
            r.transport.padEnd(4),
            r.kind.padEnd(9),
            r.deviceId,
            `×${r.attempts}`,
            error,
          ];
          process.stdout.write(`${cols.join('  ')}\n`);
        }
      });
    });

  cmd
    .command('show')
    .description('one dead letter with its body (JSON printed as is, other bytes as base64)')
    .argument('<id>', 'dead letter id (dl_…)')
    .option('-c, --config <file>', 'YAML config file')
    .option('-d, --data-dir <dir>', 'data directory')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: ConfigOpts & { json?: boolean }) => {
      await withDatabase(o, async (db) => {
        const row = await new SqlDeadLetters(db).get(id);
        if (!row) throw new VigilError('not_found', `no dead letter ${id}`);
        if (o.json) return printJson({ ...deadLetterJson(row), body_b64: row.bodyB64 });
        const { bodyB64, ...rest } = row;
        printJson(deadLetterJson(rest));
        if (bodyB64 === null) return void process.stdout.write('(body not kept)\n');
        const body = Buffer.from(bodyB64, 'base64');
        const text = body.toString('utf8');
        process.stdout.write(`${kindOfBody(body, text) === 'json' ? text : bodyB64}\n`);
      });
    });
}

function kindOfBody(body: Buffer, text: string): 'json' | 'bytes' {
  if (body[0] === 0x7b || body[0] === 0x5b) {
    try {
      JSON.parse(text);
      return 'json';
    } catch {
      return 'bytes';
    }
  }
  return 'bytes';
}
