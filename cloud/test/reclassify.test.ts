import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { isVigilError } from '../../shared/errors/index.js';
import { testAsset } from '../../shared/testing/index.js';
import { freePort } from '../../shared/testing/listen.js';
import {
  MemoryCacheBackend,
  Reclassifier,
  answerJsonSchema,
  parseAnswer,
  reclassifyConfig,
  renderTemplate,
  type ReclassifyInput,
} from '../reclassify/index.js';
import { LlmTestServer, NO_PERSON_ANSWER, PERSON_ANSWER } from './support-llm/llm-server.js';

let llm: LlmTestServer;
let big: Buffer; // 1280x720 synthetic JPEG
let small: Buffer;
const open: Reclassifier[] = [];

beforeAll(async () => {
  llm = await LlmTestServer.start({ models: ['vision-1', 'llava:7b'], maxImagePx: 512 });
  big = await sharp({ create: { width: 1280, height: 720, channels: 3, background: { r: 90, g: 120, b: 160 } } })
    .jpeg()
    .toBuffer();
  small = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 10, g: 200, b: 30 } } })
    .jpeg()
    .toBuffer();
});
afterAll(async () => {
  await llm.close();
});
afterEach(async () => {
  llm.reset();
  llm.setDefault({ kind: 'answer', answer: PERSON_ANSWER, usage: { prompt: 812, completion: 41 } });
  await Promise.all(open.splice(0).map((r) => r.close()));
});

function make(
  partial: Record<string, unknown>,
  extra: { clock?: ManualClock; cache?: MemoryCacheBackend } = {},
): Reclassifier {
  const r = new Reclassifier({
    config: reclassifyConfig(partial),
    cacheBackend: extra.cache,
    ...(extra.clock ? { clock: extra.clock } : {}),
  });
  open.push(r);
  return r;
}

const openai = (over: Record<string, unknown> = {}) => ({
  kind: 'openai',
  base_url: llm.url,
  model: 'vision-1',
  ...over,
});
const ollama = (over: Record<string, unknown> = {}) => ({
  kind: 'ollama',
  base_url: llm.url,
  model: 'llava:7b',
  ...over,
});

function input(over: Partial<ReclassifyInput> = {}): ReclassifyInput {
  return {
    eventId: 'evt_1',
    camera: 'front_door',
    deviceId: 'dev_1',
    label: 'person',
    score: 0.71,
    thumbnail: big,
    ...over,
  };
}

describe('answer schema', () => {
  it('accepts a valid answer, also inside a Markdown fence', () => {
    expect(parseAnswer(JSON.stringify(PERSON_ANSWER), 'p')).toEqual(PERSON_ANSWER);
    expect(parseAnswer('```json\n' + JSON.stringify(PERSON_ANSWER) + '\n```', 'p')).toEqual(PERSON_ANSWER);
  });

  it.each([
    ['not JSON', 'I see a person', 'llm_malformed_answer'],
    ['confidence above 1', JSON.stringify({ ...PERSON_ANSWER, confidence: 1.2 }), 'llm_off_schema'],
    ['summary longer than 50', JSON.stringify({ ...PERSON_ANSWER, summary: 'x'.repeat(51) }), 'llm_off_schema'],
    ['threat not an integer', JSON.stringify({ ...PERSON_ANSWER, threat: 1.5 }), 'llm_off_schema'],
    ['threat above 2', JSON.stringify({ ...PERSON_ANSWER, threat: 3 }), 'llm_off_schema'],
    [
      'missing agrees_with_edge',
      JSON.stringify({ label: 'person', confidence: 0.9, summary: 's', threat: 0 }),
      'llm_off_schema',
    ],
    ['extra field', JSON.stringify({ ...PERSON_ANSWER, mood: 'calm' }), 'llm_off_schema'],
  ])('rejects %s', (_name, text, code) => {
    try {
      parseAnswer(text, 'p');
      expect.unreachable();
    } catch (err) {
      expect(isVigilError(err, code)).toBe(true);
    }
  });

  it('sends a strict-compatible schema: every property required, no additional ones, no length keywords', () => {
    const s = answerJsonSchema() as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, Record<string, unknown>>;
    };
    expect(s.required.sort()).toEqual(['agrees_with_edge', 'confidence', 'label', 'summary', 'threat']);
    expect(s.additionalProperties).toBe(false);
    expect(s.properties.summary!.maxLength).toBeUndefined();
    expect(s.properties.confidence!.maximum).toBe(1);
  });

  it('renders prompt variables and leaves other braces alone', () => {
    expect(
      renderTemplate('{label} on {camera} of {device} {other}', { label: 'dog', camera: 'yard', device: 'dev_9' }),
    ).toBe('dog on yard of dev_9 {other}');
  });
});

describe('providers on the wire', () => {
  it('openai: verified answer, downscaled JPEG data URL, json_schema format, usage, bearer key', async () => {
    const r = make({ providers: [openai({ api_key: 'sk-test-123' })] });
    const c = await r.classify(input());
    expect(llm.invalid).toEqual([]);
    expect(c).toMatchObject({
      status: 'verified',
      reason: null,
      classify_label: 'person',
      classify_confidence: 0.93,
      classify_summary: 'Person at the front door',
      classify_threat: 1,
      agrees_with_edge: true,
      provider: 'openai',
      model: 'vision-1',
      prompt_tokens: 812,
      completion_tokens: 41,
      cached: false,
    });
    expect(c.image_sha256).toMatch(/^[0-9a-f]{64}$/);
    const req = llm.requests[0]!;
    expect(req.api).toBe('openai');
    expect(req.image).toMatchObject({ width: 512, height: 288 });
    expect(req.authorization).toBe('Bearer sk-test-123');
    expect(req.prompt).toContain('"front_door"');
    expect(req.prompt).toContain('dev_1');
    expect(req.prompt).toContain('person');
    expect(req.schema?.required).toContain('agrees_with_edge');
  });

  it('openai without api_key sends no Authorization header', async () => {
    const r = make({ providers: [openai()] });
    await r.classify(input());
    expect(llm.requests[0]!.authorization).toBeUndefined();
  });

  it('ollama: plain base64 images, format schema, eval counts as token usage', async () => {
    const r = make({ providers: [ollama()] });
    llm.script({ kind: 'answer', answer: NO_PERSON_ANSWER, usage: { prompt: 300, completion: 22 } });
    const c = await r.classify(input());
    expect(llm.invalid).toEqual([]);
    expect(llm.requests[0]!.api).toBe('ollama');
    expect(c).toMatchObject({
      status: 'verified',
      classify_label: 'none',
      agrees_with_edge: false,
      provider: 'ollama',
      model: 'llava:7b',
      prompt_tokens: 300,
      completion_tokens: 22,
    });
  });

  it('a real photo (dog.jpg 768x576) goes out at 512x384', async () => {
    const file = testAsset('media', 'dog.jpg');
    if (!file) return;
    const r = make({ providers: [ollama()] });
    await r.classify(input({ label: 'dog', thumbnail: readFileSync(file) }));
    expect(llm.invalid).toEqual([]);
    expect(llm.requests[0]!.image).toMatchObject({ width: 512, height: 384 });
  });

  it('a small picture is not enlarged', async () => {
    const r = make({ providers: [openai()] });
    await r.classify(input({ thumbnail: small }));
    expect(llm.requests[0]!.image).toMatchObject({ width: 320, height: 240 });
  });

  it('per-label prompt overrides the default, with variables', async () => {
    const r = make({
      providers: [openai()],
      prompts: { labels: { car: 'Is a vehicle parked in front of {camera}?' } },
    });
    await r.classify(input({ label: 'car' }));
    await r.classify(input({ label: 'person', thumbnail: small }));
    expect(llm.requests[0]!.prompt).toBe('Is a vehicle parked in front of front_door?');
    expect(llm.requests[1]!.prompt).toContain('detected a person');
  });
});

describe('provider none and missing pictures', () => {
  it('none keeps the edge label, marked not verified', async () => {
    const r = make({});
    const c = await r.classify(input());
    expect(c).toMatchObject({
      status: 'unverified',
      reason: 'provider_none',
      provider: 'none',
      classify_label: 'person',
      classify_confidence: 0.71,
      agrees_with_edge: null,
      classify_threat: null,
    });
    expect(c.classify_summary).toBe('Person at front_door');
    expect(llm.requests).toHaveLength(0);
  });

  it('no thumbnail: unverified, no_thumbnail, nothing asked', async () => {
    const r = make({ providers: [openai()] });
    const c = await r.classify(input({ thumbnail: null }));
    expect(c).toMatchObject({ status: 'unverified', reason: 'no_thumbnail' });
    expect(llm.requests).toHaveLength(0);
  });

  it('an undecodable thumbnail: unverified, thumbnail_unreadable', async () => {
    const r = make({ providers: [openai()] });
    const c = await r.classify(input({ thumbnail: Buffer.from('not a jpeg at all') }));
    expect(c).toMatchObject({ status: 'unverified', reason: 'thumbnail_unreadable' });
    expect(c.attempts[0]!.code).toBe('thumbnail_unreadable');
  });
});

describe('retries, fallback, budget', () => {
  it('a malformed answer is retried once on the same provider', async () => {
    const r = make({ providers: [openai()] });
    llm.script({ kind: 'malformed' });
    const c = await r.classify(input());
    expect(c.status).toBe('verified');
    expect(c.attempts.map((a) => a.code)).toEqual(['llm_malformed_answer', null]);
    expect(llm.requests).toHaveLength(2);
  });

  it('off-schema twice is a failure; the next provider answers', async () => {
    const r = make({ providers: [openai(), ollama()] });
    llm.script({ kind: 'off_schema' }, { kind: 'off_schema' });
    const c = await r.classify(input());
    expect(c).toMatchObject({ status: 'verified', provider: 'ollama' });
    expect(c.attempts.map((a) => `${a.provider}:${a.code}`)).toEqual([
      'openai:llm_off_schema',
      'openai:llm_off_schema',
      'ollama:null',
    ]);
  });

  it('malformed from every provider: unverified, unavailable, failures recorded', async () => {
    const r = make({ providers: [openai()] });
    llm.setDefault({ kind: 'malformed' });
    const c = await r.classify(input());
    expect(c).toMatchObject({
      status: 'unverified',
      reason: 'unavailable',
      provider: 'none',
      classify_label: 'person',
    });
    expect(c.attempts).toHaveLength(2);
  });

  it('HTTP 500 falls back to the next provider without a retry', async () => {
    const r = make({ providers: [openai(), ollama()] });
    llm.script({ kind: 'status', status: 500 });
    const c = await r.classify(input());
    expect(c.provider).toBe('ollama');
    expect(c.attempts.map((a) => a.code)).toEqual(['llm_unavailable', null]);
  });

  it('HTTP 429 with Retry-After that fits the budget: waits and asks again', async () => {
    const r = make({ providers: [openai(), ollama()], budget: '5s' });
    llm.script({ kind: 'status', status: 429, retryAfter: '1' });
    const c = await r.classify(input());
    expect(c.provider).toBe('openai');
    expect(c.attempts.map((a) => a.code)).toEqual(['llm_rate_limited', null]);
    expect(llm.requests[1]!.at - llm.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('HTTP 429 asking for longer than the budget: falls back at once', async () => {
    const r = make({ providers: [openai(), ollama()], budget: '5s' });
    llm.script({ kind: 'status', status: 429, retryAfter: '120' });
    const c = await r.classify(input());
    expect(c.provider).toBe('ollama');
    expect(c.attempts.map((a) => a.code)).toEqual(['llm_rate_limited', null]);
  });

  it('a slow provider times out per request; the next one answers', async () => {
    const r = make({ providers: [openai({ timeout: '300ms' }), ollama()], budget: '10s' });
    llm.script({ kind: 'answer', answer: PERSON_ANSWER, delayMs: 3000 });
    const c = await r.classify(input());
    expect(c.provider).toBe('ollama');
    expect(c.attempts[0]!.code).toBe('llm_timeout');
  });

  it('servers that never answer: over_budget, and the call returns', async () => {
    const r = make({ providers: [openai(), ollama()], budget: '700ms', request_timeout: '30s' });
    llm.setDefault({ kind: 'hang' });
    const c = await r.classify(input());
    expect(c).toMatchObject({ status: 'unverified', reason: 'over_budget', provider: 'none' });
    expect(c.attempts[0]!.code).toBe('llm_timeout');
  });

  it('an unreachable server: llm_unreachable, fallback', async () => {
    const port = await freePort();
    const r = make({ providers: [openai({ base_url: `http://127.0.0.1:${port}` }), ollama()] });
    const c = await r.classify(input());
    expect(c.provider).toBe('ollama');
    expect(c.attempts[0]!.code).toBe('llm_unreachable');
  });

  it('an unknown model (HTTP 404) is llm_request_rejected', async () => {
    const r = make({ providers: [openai({ model: 'no-such-model' })] });
    const c = await r.classify(input());
    expect(c).toMatchObject({ status: 'unverified', reason: 'unavailable' });
    expect(c.attempts[0]!.code).toBe('llm_request_rejected');
  });
});

describe('circuit breaker', () => {
  it('opens after N failures, skips the provider, lets one trial through after the cool-down', async () => {
    const clock = new ManualClock();
    const r = make({ providers: [openai(), ollama()], breaker: { failures: 2, cooldown: '30s' } }, { clock });
    const failOpenAi = () => llm.script({ kind: 'status', status: 500 }, { kind: 'answer', answer: PERSON_ANSWER });
    failOpenAi();
    await r.classify(input({ thumbnail: small }));
    failOpenAi();
    await r.classify(input({ thumbnail: big }));
    expect(r.breakerStates()).toMatchObject({ openai: 'open', ollama: 'closed' });

    llm.reset();
    const third = await r.classify(input({ label: 'dog' }));
    expect(third.provider).toBe('ollama');
    expect(third.attempts[0]).toMatchObject({ provider: 'openai', code: 'llm_circuit_open' });
    expect(llm.requests.map((q) => q.api)).toEqual(['ollama']);

    clock.advance(30_000);
    expect(r.breakerStates().openai).toBe('half_open');
    llm.reset();
    const fourth = await r.classify(input({ label: 'cat' }));
    expect(fourth.provider).toBe('openai');
    expect(r.breakerStates().openai).toBe('closed');
  });

  it('a failed trial opens the circuit again', async () => {
    const clock = new ManualClock();
    const r = make({ providers: [openai(), ollama()], breaker: { failures: 1, cooldown: '10s' } }, { clock });
    llm.script({ kind: 'status', status: 500 });
    await r.classify(input({ label: 'a' }));
    expect(r.breakerStates().openai).toBe('open');
    clock.advance(10_000);
    llm.script({ kind: 'status', status: 503 });
    const c = await r.classify(input({ label: 'b' }));
    expect(c.provider).toBe('ollama');
    expect(r.breakerStates().openai).toBe('open');
  });
});

describe('answer cache', () => {
  it('the same picture and label is paid for once, also across a restart (persisted backend)', async () => {
    const backend = new MemoryCacheBackend();
    const r1 = make({ providers: [openai()] }, { cache: backend });
    const a = await r1.classify(input());
    const b = await r1.classify(input({ eventId: 'evt_2' }));
    expect(a.cached).toBe(false);
    expect(b).toMatchObject({ cached: true, status: 'verified', classify_label: 'person', prompt_tokens: 812 });
    expect(llm.requests).toHaveLength(1);

    const r2 = make({ providers: [openai()] }, { cache: backend });
    const c = await r2.classify(input({ eventId: 'evt_3' }));
    expect(c.cached).toBe(true);
    expect(llm.requests).toHaveLength(1);
  });

  it('another label, another prompt or another model asks again', async () => {
    const backend = new MemoryCacheBackend();
    await make({ providers: [openai()] }, { cache: backend }).classify(input());
    await make({ providers: [openai()] }, { cache: backend }).classify(input({ label: 'dog' }));
    await make({ providers: [openai()], prompts: { default: 'Is there a {label}?' } }, { cache: backend }).classify(
      input(),
    );
    await make({ providers: [ollama()] }, { cache: backend }).classify(input());
    expect(llm.requests).toHaveLength(4);
    expect(backend.map.size).toBe(4);
  });

  it('failures are not cached', async () => {
    const r = make({ providers: [openai()] });
    llm.script({ kind: 'status', status: 500 });
    expect((await r.classify(input())).status).toBe('unverified');
    expect((await r.classify(input())).status).toBe('verified');
  });

  it('concurrent events with the same picture share one request', async () => {
    const r = make({ providers: [openai()] });
    llm.script({ kind: 'answer', answer: PERSON_ANSWER, delayMs: 200 });
    const [a, b] = await Promise.all([r.classify(input()), r.classify(input({ eventId: 'evt_2' }))]);
    expect(a.classify_label).toBe('person');
    expect(b.classify_label).toBe('person');
    expect(llm.requests).toHaveLength(1);
  });
});

describe('config', () => {
  it('rejects two providers with one name, and an LLM provider without base_url/model', () => {
    expect(() => new Reclassifier({ config: reclassifyConfig({ providers: [openai(), openai()] }) })).toThrow(
      /used twice/,
    );
    expect(
      () => new Reclassifier({ config: reclassifyConfig({ providers: [{ kind: 'ollama', model: 'x' }] }) }),
    ).toThrow(/base_url and model are required/);
  });
});
