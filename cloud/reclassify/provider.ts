import type { PreparedImage } from './image.js';
import type { RenderedPrompt } from './prompt.js';

/**
 * One vision LLM behind one interface. A provider only speaks its wire format: it sends the picture, the prompt
 * and the answer schema, and returns the model's raw text. Parsing and validating the answer, retries, fallback,
 * the circuit breaker and the budget live in ./reclassifier.ts, the same for every provider.
 *
 * Failures are VigilErrors with these codes (./http.ts maps transport outcomes onto them):
 *   llm_timeout          the request did not finish in time
 *   llm_unreachable      connection refused/reset, DNS failure
 *   llm_rate_limited     HTTP 429 (details.retry_after_ms when the server said when)
 *   llm_unavailable      HTTP 5xx
 *   llm_request_rejected other HTTP 4xx (wrong model name, bad key…)
 *   llm_bad_response     a 2xx whose envelope is not what the API defines (no choices/message)
 */
export type ProviderKind = 'openai' | 'ollama';

export interface ProviderRequest {
  image: PreparedImage;
  prompt: RenderedPrompt;
  /** JSON schema of the answer (./answer.ts). */
  schema: Record<string, unknown>;
  /** Timeout of this one request, ms. */
  timeoutMs: number;
  /** Aborts the request early (budget exhausted, shutdown). */
  signal?: AbortSignal | undefined;
}

export interface TokenUsage {
  prompt_tokens: number | null;
  completion_tokens: number | null;
}

export interface ProviderReply {
  /** The model's message content, expected to be the JSON answer. */
  text: string;
  /** The model that answered, as the server reports it (falls back to the configured one). */
  model: string;
  usage: TokenUsage;
}

export interface VisionProvider {
  readonly name: string;
  readonly kind: ProviderKind;
  readonly model: string;
  ask(request: ProviderRequest): Promise<ProviderReply>;
  close(): Promise<void>;
}
