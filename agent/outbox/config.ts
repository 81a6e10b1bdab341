import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseDuration } from '../../shared/clock/index.js';
import { durationSetting } from '../../shared/config/index.js';
import type { OutboxOptions } from './api.js';

/**
 * The `outbox:` section of the agent's config file, with its defaults and descriptions (the only place they are
 * written), and the Outbox options it stands for. An Outbox opened without config (CLI, tests, benches) takes its
 * budget and retention from these defaults too (`OUTBOX_DEFAULTS`).
 */
export const OutboxConfigSchema = Type.Object(
  {
    budget_bytes: Type.Integer({
      minimum: 1024 * 1024,
      default: 256 * 1024 * 1024,
      description:
        'Most bytes of un-acked events and thumbnails kept. Over it, update thumbnails go first, then other ' +
        'thumbnails, then superseded update records; new events are refused only when records alone fill it.',
    }),
    retention: durationSetting(
      '24h',
      'How long acked and dropped rows are kept for `vigil-agent outbox list` (their bodies are freed at once).',
    ),
    reserve_bytes: Type.Integer({
      minimum: 0,
      default: 4 * 1024 * 1024,
      description:
        'Disk-full reserve: a file of this size beside outbox.db (plus a quarter of it as spare pages inside) given ' +
        'back when the disk fills, so sending, acks and counters go on. Taken again once twice this much is free. ' +
        '0 turns it off.',
    }),
    quarantine_corrupt: Type.Boolean({
      default: false,
      description:
        'Rename a corrupt or foreign outbox file aside (outbox.db.corrupt-<time>) and start empty, instead of ' +
        'refusing to start.',
    }),
  },
  { default: {}, additionalProperties: false, description: 'The store-and-forward outbox (<data_dir>/outbox.db).' },
);
export type OutboxConfig = Static<typeof OutboxConfigSchema>;

/** The section with its defaults filled in (for tests and library use). */
export function outboxConfig(partial: Partial<OutboxConfig> = {}): OutboxConfig {
  return Value.Default(OutboxConfigSchema, Value.Clone(partial)) as OutboxConfig;
}

type ConfiguredOption = 'budgetBytes' | 'retentionMs' | 'reserveBytes' | 'quarantine';

/** The Outbox options an `outbox:` section asks for (the caller adds the path, logger and validation). */
export function outboxOptionsFrom(c: OutboxConfig): Required<Pick<OutboxOptions, ConfiguredOption>> {
  return {
    budgetBytes: c.budget_bytes,
    retentionMs: parseDuration(c.retention),
    reserveBytes: c.reserve_bytes,
    quarantine: c.quarantine_corrupt,
  };
}

/** The schema's defaults as Outbox options. */
export const OUTBOX_DEFAULTS = outboxOptionsFrom(outboxConfig());
