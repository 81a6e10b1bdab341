import { Type } from '@sinclair/typebox';
import type { Agent } from 'undici';
import { VigilError } from '../../errors.js';
import { formatIssues, issuesOf } from '../../../shared/schema/index.js';
import { llmAgent, postJson } from '../http.js';
import type { ProviderReply, ProviderRequest, VisionProvider } from '../provider.js';

/**
 * Ollama's native API: `POST {base}/api/chat`, the picture as plain base64 (no data-URL prefix) in
 * `messages[].images`, the answer schema in `format`, one JSON reply (`stream: false`). Token counts come back as
 * `prompt_eval_count` / `eval_count`.
 */
export interface OllamaProviderOptions {
  name: string;
  baseUrl: string;
  model: string;
  maxTokens: number;
  temperature: number;
}

const ChatEnvelope = Type.Object({
  model: Type.Optional(Type.String()),
  message: Type.Object({ content: Type.String() }),
  prompt_eval_count: Type.Optional(Type.Integer({ minimum: 0 })),
  eval_count: Type.Optional(Type.Integer({ minimum: 0 })),
});

export function ollamaRequestBody(options: OllamaProviderOptions, request: ProviderRequest): Record<string, unknown> {
  return {
    model: options.model,
    messages: [
      { role: 'system', content: request.prompt.system },
      { role: 'user', content: request.prompt.user, images: [request.image.jpeg.toString('base64')] },
    ],
    format: request.schema,
    stream: false,
    options: { temperature: options.temperature, num_predict: options.maxTokens },
  };
}

export class OllamaProvider implements VisionProvider {
  readonly kind = 'ollama' as const;
  readonly name: string;
  readonly model: string;
  private readonly url: string;
  private readonly agent: Agent = llmAgent();

  constructor(private readonly options: OllamaProviderOptions) {
    this.name = options.name;
    this.model = options.model;
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/api/chat`;
  }

  async ask(request: ProviderRequest): Promise<ProviderReply> {
    const body = await postJson({
      provider: this.name,
      url: this.url,
      body: ollamaRequestBody(this.options, request),
      timeoutMs: request.timeoutMs,
      signal: request.signal,
      dispatcher: this.agent,
    });
    const issues = issuesOf(ChatEnvelope, body, 3);
    if (issues.length > 0) {
      throw new VigilError('llm_bad_response', `${this.name}: not an Ollama chat reply: ${formatIssues(issues)}`, {
        details: { provider: this.name },
      });
    }
    const env = body as {
      model?: string;
      message: { content: string };
      prompt_eval_count?: number;
      eval_count?: number;
    };
    return {
      text: env.message.content,
      model: env.model ?? this.model,
      usage: { prompt_tokens: env.prompt_eval_count ?? null, completion_tokens: env.eval_count ?? null },
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
