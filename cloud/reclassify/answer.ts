import { Type, type Static } from '@sinclair/typebox';
import { VigilError } from '../errors.js';
import { validator } from '../../shared/schema/index.js';

/**
 * What the vision LLM must answer, as one TypeBox schema: it is sent to the provider as the JSON-schema response
 * format (OpenAI `response_format.json_schema.schema`, Ollama `format`) and checks the answer that comes back.
 * Bump ANSWER_SCHEMA_VERSION whenever the schema changes: it is part of the cache key.
 */
export const SUMMARY_MAX = 50;
export const ANSWER_SCHEMA_VERSION = 1;

export const ClassificationAnswerSchema = Type.Object(
  {
    label: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'Main object seen, e.g. person, car, dog, or none.',
    }),
    confidence: Type.Number({ minimum: 0, maximum: 1, description: 'How sure the model is of `label`, 0..1.' }),
    summary: Type.String({
      minLength: 1,
      maxLength: SUMMARY_MAX,
      description: `Notification title, at most ${SUMMARY_MAX} characters.`,
    }),
    threat: Type.Integer({ minimum: 0, maximum: 2, description: '0 harmless, 1 worth a look, 2 urgent.' }),
    agrees_with_edge: Type.Boolean({ description: 'True when the object the camera reported is clearly visible.' }),
  },
  { additionalProperties: false },
);
export type ClassificationAnswer = Static<typeof ClassificationAnswerSchema>;

const answerValidator = validator(ClassificationAnswerSchema, { code: 'llm_off_schema', registry: VigilError });

/**
 * The schema as plain JSON (no TypeBox symbols), as providers expect it. OpenAI's strict structured outputs
 * reject `minLength`/`maxLength`, so those are left out of what is sent (the descriptions still state the limits,
 * and parseAnswer enforces them).
 */
export function answerJsonSchema(): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(ClassificationAnswerSchema, (key, value: unknown) =>
      key === 'minLength' || key === 'maxLength' ? undefined : value,
    ),
  ) as Record<string, unknown>;
}

/**
 * Parses the model's text into a checked answer. Some servers wrap JSON in a Markdown fence even in JSON mode;
 * the fence is tolerated, anything else is not.
 * Throws `llm_malformed_answer` (not JSON) or `llm_off_schema` (JSON, wrong shape).
 */
export function parseAnswer(text: string, provider: string): ClassificationAnswer {
  const trimmed = text.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, '$1');
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    throw new VigilError(
      'llm_malformed_answer',
      `${provider}: answer is not JSON: ${JSON.stringify(trimmed.slice(0, 80))}`,
      {
        details: { provider },
      },
    );
  }
  return answerValidator.parse(value, `${provider} answer`);
}
