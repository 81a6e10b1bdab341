import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp, { type Metadata } from 'sharp';

/**
 * A local vision-LLM server for tests, speaking two real wire formats on one port:
 *   POST /v1/chat/completions  OpenAI-compatible chat completions (image as a base64 JPEG data URL in an
 *                              `image_url` content part, `response_format: {type: json_schema, …}`)
 *   POST /api/chat             Ollama native chat (`messages[].images` plain base64, `format` = schema, stream false)
 *
 * Every request is validated the way a strict server would (model, messages, the picture decodes as a JPEG, the
 * schema is there); an invalid one gets HTTP 400 and is recorded in `invalid`. Replies are scripted: queued
 * replies are used first (FIFO), then the default reply. A reply can be a normal answer (with token usage),
 * malformed text, an off-schema answer, a delay, an HTTP status (429 with Retry-After, 500), or a hang.
 */
export interface AnswerBody {
  label: string;
  confidence: number;
  summary: string;
  threat: number;
  agrees_with_edge: boolean;
}

export type LlmReply =
  | {
      kind: 'answer';
      answer: AnswerBody | Record<string, unknown>;
      delayMs?: number;
      usage?: { prompt: number; completion: number };
    }
  | { kind: 'malformed'; text?: string; delayMs?: number }
  | { kind: 'off_schema'; delayMs?: number }
  | { kind: 'status'; status: number; retryAfter?: string; delayMs?: number }
  /** Accepts the request and never answers (until the server closes). */
  | { kind: 'hang' };

export const PERSON_ANSWER: AnswerBody = {
  label: 'person',
  confidence: 0.93,
  summary: 'Person at the front door',
  threat: 1,
  agrees_with_edge: true,
};
export const NO_PERSON_ANSWER: AnswerBody = {
  label: 'none',
  confidence: 0.9,
  summary: 'Nothing there, only shadows',
  threat: 0,
  agrees_with_edge: false,
};

export interface RecordedLlmRequest {
  api: 'openai' | 'ollama';
  model: string;
  system: string;
  prompt: string;
  authorization: string | undefined;
  image: { width: number; height: number; bytes: number } | null;
  schema: Record<string, unknown> | null;
  at: number;
}

export interface LlmServerOptions {
  /** Model names the server knows; a request for another gets HTTP 404 like a real server. Default: any. */
  models?: string[];
  /** Required bearer token (OpenAI API only). */
  apiKey?: string;
  /** Largest picture side accepted (the collector must downscale). */
  maxImagePx?: number;
  defaultReply?: LlmReply;
}

export class LlmTestServer {
  readonly requests: RecordedLlmRequest[] = [];
  readonly invalid: { api: string; error: string }[] = [];
  private queue: LlmReply[] = [];
  private defaultReply: LlmReply;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    private readonly options: LlmServerOptions,
  ) {
    this.defaultReply = options.defaultReply ?? {
      kind: 'answer',
      answer: PERSON_ANSWER,
      usage: { prompt: 812, completion: 41 },
    };
  }

  static async start(options: LlmServerOptions = {}): Promise<LlmTestServer> {
    let self: LlmTestServer | undefined;
    const server = createServer((req, res) => {
      void self!.handle(req, res);
    });
    self = new LlmTestServer(server, options);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}`;
  }

  /** Queues replies for the next requests, in order. */
  script(...replies: LlmReply[]): this {
    this.queue.push(...replies);
    return this;
  }

  setDefault(reply: LlmReply): this {
    this.defaultReply = reply;
    return this;
  }

  /** Drops queued replies and recorded requests. */
  reset(): void {
    this.queue = [];
    this.requests.length = 0;
    this.invalid.length = 0;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? '').split('?')[0];
    const api = path === '/v1/chat/completions' ? 'openai' : path === '/api/chat' ? 'ollama' : null;
    if (req.method !== 'POST' || api === null)
      return send(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
    if (api === 'openai' && this.options.apiKey && req.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      return send(res, 401, { error: { message: 'invalid api key', type: 'invalid_request_error' } });
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return this.reject(res, api, 'body is not JSON');
    }
    let recorded: RecordedLlmRequest;
    try {
      recorded = api === 'openai' ? await this.checkOpenAi(body) : await this.checkOllama(body);
    } catch (err) {
      return this.reject(res, api, (err as Error).message);
    }
    recorded.authorization = req.headers.authorization;
    if (this.options.models && !this.options.models.includes(recorded.model)) {
      return send(res, 404, { error: { message: `model "${recorded.model}" not found` } });
    }
    this.requests.push(recorded);
    const reply = this.queue.shift() ?? this.defaultReply;
    if (reply.kind === 'hang') {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    const answerNow = (): void => this.answer(res, api, recorded.model, reply);
    if (reply.delayMs && reply.delayMs > 0) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!res.destroyed) answerNow();
      }, reply.delayMs);
      this.timers.add(t);
      res.on('close', () => {
        clearTimeout(t);
        this.timers.delete(t);
      });
    } else answerNow();
  }

  private answer(
    res: ServerResponse,
    api: 'openai' | 'ollama',
    model: string,
    reply: Exclude<LlmReply, { kind: 'hang' }>,
  ): void {
    if (reply.kind === 'status') {
      const headers: Record<string, string> = reply.retryAfter ? { 'retry-after': reply.retryAfter } : {};
      send(res, reply.status, { error: { message: `scripted HTTP ${reply.status}` } }, headers);
      return;
    }
    const content =
      reply.kind === 'answer'
        ? JSON.stringify(reply.answer)
        : reply.kind === 'malformed'
          ? (reply.text ?? 'Sure! I can see a person standing near the door.')
          : JSON.stringify({ label: 'person', confidence: 1.7, summary: 'x'.repeat(80), threat: 'high' });
    const usage =
      reply.kind === 'answer' ? (reply.usage ?? { prompt: 800, completion: 40 }) : { prompt: 800, completion: 12 };
    if (api === 'openai') {
      send(res, 200, {
        id: `chatcmpl-${this.requests.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: usage.prompt,
          completion_tokens: usage.completion,
          total_tokens: usage.prompt + usage.completion,
        },
      });
    } else {
      send(res, 200, {
        model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content },
        done: true,
        done_reason: 'stop',
        prompt_eval_count: usage.prompt,
        eval_count: usage.completion,
      });
    }
  }

  private reject(res: ServerResponse, api: string, error: string): void {
    this.invalid.push({ api, error });
    send(res, 400, { error: { message: error, type: 'invalid_request_error' } });
  }

  private async checkOpenAi(body: unknown): Promise<RecordedLlmRequest> {
    const b = obj(body, 'body');
    const model = str(b.model, 'model');
    const messages = arr(b.messages, 'messages');
    let system = '';
    let prompt = '';
    let image: RecordedLlmRequest['image'] = null;
    for (const [i, m] of messages.entries()) {
      const msg = obj(m, `messages[${i}]`);
      const role = str(msg.role, `messages[${i}].role`);
      if (!['system', 'user', 'assistant'].includes(role)) throw new Error(`messages[${i}].role: unknown role ${role}`);
      if (typeof msg.content === 'string') {
        if (role === 'system') system += msg.content;
        else prompt += msg.content;
        continue;
      }
      for (const [j, p] of arr(msg.content, `messages[${i}].content`).entries()) {
        const part = obj(p, `messages[${i}].content[${j}]`);
        if (part.type === 'text') prompt += str(part.text, `messages[${i}].content[${j}].text`);
        else if (part.type === 'image_url') {
          const url = str(obj(part.image_url, 'image_url').url, 'image_url.url');
          const m2 = /^data:image\/jpeg;base64,([A-Za-z0-9+/]+={0,2})$/.exec(url);
          if (!m2) throw new Error('image_url.url: expected a data:image/jpeg;base64 URL');
          image = await this.checkJpeg(m2[1]!);
        } else throw new Error(`messages[${i}].content[${j}].type: unknown part type ${String(part.type)}`);
      }
    }
    if (!image) throw new Error('no image_url content part');
    const rf = obj(b.response_format, 'response_format');
    if (rf.type !== 'json_schema') throw new Error('response_format.type: expected json_schema');
    const js = obj(rf.json_schema, 'response_format.json_schema');
    str(js.name, 'response_format.json_schema.name');
    const schema = obj(js.schema, 'response_format.json_schema.schema');
    if (schema.type !== 'object' || !Array.isArray(schema.required))
      throw new Error('response_format.json_schema.schema: not an object schema with required fields');
    return { api: 'openai', model, system, prompt, authorization: undefined, image, schema, at: Date.now() };
  }

  private async checkOllama(body: unknown): Promise<RecordedLlmRequest> {
    const b = obj(body, 'body');
    const model = str(b.model, 'model');
    if (b.stream !== false) throw new Error('stream: expected false');
    let system = '';
    let prompt = '';
    let image: RecordedLlmRequest['image'] = null;
    for (const [i, m] of arr(b.messages, 'messages').entries()) {
      const msg = obj(m, `messages[${i}]`);
      const role = str(msg.role, `messages[${i}].role`);
      const content = str(msg.content, `messages[${i}].content`);
      if (role === 'system') system += content;
      else prompt += content;
      if (msg.images !== undefined) {
        for (const [j, img] of arr(msg.images, `messages[${i}].images`).entries()) {
          const b64 = str(img, `messages[${i}].images[${j}]`);
          if (b64.startsWith('data:'))
            throw new Error(`messages[${i}].images[${j}]: Ollama wants plain base64, not a data URL`);
          image = await this.checkJpeg(b64);
        }
      }
    }
    if (!image) throw new Error('no message carries images');
    const schema = obj(b.format, 'format');
    if (schema.type !== 'object') throw new Error('format: expected a JSON schema object');
    return { api: 'ollama', model, system, prompt, authorization: undefined, image, schema, at: Date.now() };
  }

  private async checkJpeg(b64: string): Promise<NonNullable<RecordedLlmRequest['image']>> {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new Error('image: not valid base64');
    const bytes = Buffer.from(b64, 'base64');
    if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[2] !== 0xff)
      throw new Error('image: no JPEG SOI marker');
    let meta: Metadata;
    try {
      meta = await sharp(bytes).metadata();
    } catch (err) {
      throw new Error(`image: does not decode: ${(err as Error).message}`);
    }
    if (meta.format !== 'jpeg' || !meta.width || !meta.height)
      throw new Error(`image: format ${meta.format}, expected jpeg`);
    const max = this.options.maxImagePx ?? 512;
    if (Math.max(meta.width, meta.height) > max)
      throw new Error(`image: ${meta.width}x${meta.height} larger than ${max} px`);
    return { width: meta.width, height: meta.height, bytes: bytes.length };
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: expected an object`);
  return v as Record<string, unknown>;
}
function arr(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${where}: expected a non-empty array`);
  return v;
}
function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new Error(`${where}: expected a non-empty string`);
  return v;
}
