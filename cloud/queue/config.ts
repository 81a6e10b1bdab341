import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { durationSetting as Duration } from '../../shared/config/index.js';

/**
 * Config section `queue`: the durable work queue in the collector's database that runs the verify-then-notify job
 * of every stored event.
 */

export const QueueConfigSchema = Type.Object(
  {
    concurrency: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 4,
      description: 'Jobs this collector runs at once.',
    }),
    lease: Duration(
      '60s',
      'How long a claimed job belongs to this collector; renewed while it runs. An expired lease (crash) lets any ' +
        'collector reclaim the job.',
    ),
    poll: Duration('1s', 'How often idle workers look for due jobs (new jobs of this collector wake them at once).'),
    max_attempts: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 8,
      description: 'Attempts before a job is dead-lettered.',
    }),
    backoff_base: Duration('2s', 'Wait before the first retry; doubled per attempt.'),
    backoff_max: Duration('10m', 'Longest wait between retries.'),
    keep_done: Duration(
      '7d',
      'Finished jobs are deleted after this long (the event keeps its verification and push record; dead-lettered ' +
        'jobs are kept).',
    ),
  },
  { default: {}, additionalProperties: false, description: 'Durable job queue (verify-then-notify of stored events).' },
);
export type QueueConfig = Static<typeof QueueConfigSchema>;

export function queueConfig(partial: unknown = {}): QueueConfig {
  return Value.Default(QueueConfigSchema, Value.Clone(partial)) as QueueConfig;
}
