import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { durationSetting as Duration, DURATION_PATTERN } from '../../shared/config/index.js';

/**
 * Config section `reclassify`: which vision LLMs re-check an event's thumbnail, in which fallback order, and how
 * long the collector may wait for them. The default is the single provider `none` (keep the box's label, marked
 * not verified), so a collector without an LLM works out of the box.
 *
 *   reclassify:
 *     providers:                      # tried in this order; the first valid answer wins
 *       - kind: openai                # OpenAI-compatible /v1/chat/completions
 *                                     # (OpenAI, vLLM, LM Studio, llama.cpp, Ollama /v1)
 *         base_url: http://gpu:8000
 *         model: qwen2.5-vl-7b
 *       - kind: ollama                # Ollama native /api/chat
 *         base_url: http://127.0.0.1:11434
 *         model: llava:7b
 *     budget: 8s
 *     prompts:
 *       labels:
 *         car: "Is there a vehicle in this picture from camera {camera}? …"
 */

export const ProviderConfigSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal('openai'), Type.Literal('ollama'), Type.Literal('none')], {
      description:
        '`openai`: OpenAI-compatible chat completions; `ollama`: Ollama /api/chat; `none`: keep the edge label, ' +
        'not verified.',
    }),
    name: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_.-]{1,40}$',
        description:
          'Name in logs, metrics and the cache key; defaults to the kind (add one when two providers share a kind).',
      }),
    ),
    base_url: Type.Optional(
      Type.String({
        format: 'uri',
        pattern: '^https?://',
        description: 'Server base URL without /v1 (required for openai and ollama).',
      }),
    ),
    model: Type.Optional(
      Type.String({ minLength: 1, description: 'Model name sent to the server (required for openai and ollama).' }),
    ),
    api_key: Type.Optional(
      Type.String({ minLength: 1, description: 'Sent as `Authorization: Bearer …` when set (openai kind).' }),
    ),
    timeout: Type.Optional(
      Type.String({
        pattern: DURATION_PATTERN,
        description: 'Timeout of one request to this provider; default reclassify.request_timeout.',
      }),
    ),
    max_tokens: Type.Integer({
      minimum: 16,
      maximum: 4096,
      default: 200,
      description: 'Upper bound on answer tokens.',
    }),
    temperature: Type.Number({ minimum: 0, maximum: 2, default: 0 }),
  },
  { additionalProperties: false },
);
export type ProviderConfig = Static<typeof ProviderConfigSchema>;

export const ReclassifyConfigSchema = Type.Object(
  {
    providers: Type.Array(ProviderConfigSchema, {
      minItems: 1,
      maxItems: 8,
      default: [{ kind: 'none' }],
      description:
        'Providers in fallback order. A later one is tried when an earlier one fails, times out or has its ' +
        'circuit open.',
    }),
    request_timeout: Duration('8s', 'Default timeout of one request.'),
    budget: Duration(
      '10s',
      'Most time one event may spend in re-classification, across retries and fallbacks. Past it the event is ' +
        '"over budget" and the notify fallback rule applies.',
    ),
    malformed_retries: Type.Integer({
      minimum: 0,
      maximum: 3,
      default: 1,
      description: 'Extra requests to the same provider after a malformed or off-schema answer.',
    }),
    breaker: Type.Object(
      {
        failures: Type.Integer({
          minimum: 1,
          default: 3,
          description: "Consecutive failures that open a provider's circuit (it is skipped).",
        }),
        cooldown: Duration(
          '30s',
          'How long an open circuit stays open before one trial request is let through (half-open).',
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    image: Type.Object(
      {
        max_px: Type.Integer({
          minimum: 64,
          maximum: 4096,
          default: 512,
          description: 'Longest side of the picture sent to the LLM (downscaled, never enlarged).',
        }),
        quality: Type.Integer({
          minimum: 30,
          maximum: 100,
          default: 80,
          description: 'JPEG quality of the picture sent.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    cache: Type.Object(
      {
        entries: Type.Integer({
          minimum: 0,
          default: 2000,
          description: 'Answers kept in memory (least recently used dropped); answers are also stored in the database.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    prompts: Type.Object(
      {
        system: Type.String({
          minLength: 1,
          default:
            'You check pictures from a home security camera. Answer only with JSON matching the given schema. ' +
            '"summary" is a short notification title (at most 50 characters). "threat": 0 = harmless, 1 = worth a ' +
            'look, 2 = urgent.',
        }),
        default: Type.String({
          minLength: 1,
          default:
            'The camera "{camera}" on device {device} detected a {label}. Look at the picture: what is the main ' +
            'object? ' +
            'Set "label" to what you see (e.g. person, car, dog, none), "confidence" to how sure you are (0..1) and ' +
            '"agrees_with_edge" to true only if a {label} is clearly visible.',
          description: 'Prompt for every label without an override. Variables: {label}, {camera}, {device}.',
        }),
        labels: Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), {
          default: {},
          description: 'Per-label prompt overrides, e.g. `car: "…"`. Same variables.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  {
    default: {},
    additionalProperties: false,
    description: 'Vision-LLM re-check of each event thumbnail before it is notified.',
  },
);
export type ReclassifyConfig = Static<typeof ReclassifyConfigSchema>;

/** Config with every default filled, for tests and library use. */
export function reclassifyConfig(partial: unknown = {}): ReclassifyConfig {
  const filled = Value.Default(ReclassifyConfigSchema, Value.Clone(partial)) as ReclassifyConfig;
  return filled;
}
