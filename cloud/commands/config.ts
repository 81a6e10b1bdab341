import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { durationSetting as Duration } from '../../shared/config/index.js';

/**
 * The `commands` config section: how long a command waits for its box (ttl, max_ttl), how often the collector
 * looks for expired ones, when a command handed out by a long-poll is handed out again, and how many commands a
 * box may be sent (per device, per collector process).
 */

export const CommandsConfigSchema = Type.Object(
  {
    ttl: Duration(
      '5m',
      'How long a command waits for its box by default (POST /v1/devices/{id}/commands may ask for another ttl); ' +
        'without a result by then it ends expired / device_offline.',
    ),
    max_ttl: Duration('7d', 'The longest ttl a command may ask for (longer asks are cut to this).'),
    redeliver_after: Duration(
      '30s',
      'A command handed out by the HTTPS long-poll without a result for this long is handed out again.',
    ),
    sweep_interval: Duration('5s', 'How often the collector ends commands whose expiry passed.'),
    rate: Type.Object(
      {
        per_minute: Type.Number({
          minimum: 0.1,
          default: 30,
          description: 'Sustained commands per box per minute (per collector process); beyond, 429 rate_limited.',
        }),
        burst: Type.Integer({ minimum: 1, default: 10, description: 'Commands a box may be sent at once.' }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  {
    default: {},
    additionalProperties: false,
    description: 'Commands from the collector to boxes (snapshot, status, reload_config, model_update).',
  },
);
export type CommandsConfig = Static<typeof CommandsConfigSchema>;

/** The section with every default filled (for a service built without a config file). */
export function commandsConfig(partial: Record<string, unknown> = {}): CommandsConfig {
  return Value.Default(CommandsConfigSchema, structuredClone(partial)) as CommandsConfig;
}
