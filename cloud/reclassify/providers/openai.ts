import { Type } from '@sinclair/typebox';
import type { Agent } from 'undici';
import { VigilError } from '../../errors.js';
import { formatIssues, issuesOf } from '../../../shared/schema/index.js';
import { llmAgent, postJson } from '../http.js';
import type { ProviderReply, ProviderRequest, VisionProvider } from '../provider.js';

/**
 * OpenAI-compatible chat completions: `POST {base}/v1/chat/completions`. The same request works against OpenAI,
 * vLLM, LM Studio, the llama.cpp server and Ollama's /v1: the picture travels as a base64 JPEG data URL in an
 * `image_url` content part, and `response_format` asks for JSON matching the answer schema (strict).
 */
export interface OpenAiProviderOptions {
  name: string;
  baseUrl: string;
  model: string;
  apiKey?: string | undefined;
  maxTokens: number;
  temperature: number;
}

/** Only the fields read; servers add many more. */
const CompletionEnvelope = Type.Object({
  model: Type.Optional(Type.String()),
  choices: Type.Array(
    Type.Object({
      message: Type.Object({ content: Type.Union([Type.String(), Type.Null()]) }),
    }),
    { minItems: 1 },
  ),
  usage: Type.Optional(
    Type.Object({
      prompt_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
      completion_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
    }),
  ),
});

export function openAiRequestBody(options: OpenAiProviderOptions, request: ProviderRequest): Record<string, unknown> {
  return {
    model: options.model,
    messages: [
      { role: 'system', content: request.prompt.system },
      {
        role: 'user',
        content: [
          { type: 'text', text: request.prompt.user },
          { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${request.image.jpeg.toString('base64')}` } },
        ],
      },
    ],
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'vigil_classification', strict: true, schema: request.schema },
    },
    max_tokens: options.maxTokens,
    temperature: options.temperature,
    stream: false,
  };
}

export class OpenAiProvider implements VisionProvider {
  readonly kind = 'openai' as const;
  readonly name: string;
  readonly model: string;
  private readonly url: string;
  private readonly agent: Agent = llmAgent();

  constructor(private readonly options: OpenAiProviderOptions) {
    this.name = options.name;
    this.model = options.model;
    this.url = `${options.baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '')}/v1/chat/completions`;
  }

  async ask(request: ProviderRequest): Promise<ProviderReply> {
    const headers: Record<string, string> = {};
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const body = await postJson({
      provider: this.name,
      url: this.url,
      headers,
      body: openAiRequestBody(this.options, request),
      timeoutMs: request.timeoutMs,
      signal: request.signal,
      dispatcher: this.agent,
    });
    const issues = issuesOf(CompletionEnvelope, body, 3);
    if (issues.length > 0) {
      throw new VigilError('llm_bad_response', `${this.name}: not a chat completion: ${formatIssues(issues)}`, {
        details: { provider: this.name },
      });
    }
    const env = body as {
      model?: string;
      choices: [{ message: { content: string | null } }];
      usage?: { prompt_tokens?: number; completion_tokens?: number };
    };
    return {
      text: env.choices[0].message.content ?? '',
      model: env.model ?? this.model,
      usage: {
        prompt_tokens: env.usage?.prompt_tokens ?? null,
        completion_tokens: env.usage?.completion_tokens ?? null,
      },
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
