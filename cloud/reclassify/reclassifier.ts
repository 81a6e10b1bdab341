import { setTimeout as delay } from 'node:timers/promises';
import { systemClock, parseDuration, type Clock } from '../../shared/clock/index.js';
import { VigilError, describeError, isVigilError } from '../errors.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { answerJsonSchema, parseAnswer } from './answer.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import { ClassificationCache, cacheKey, type ClassificationCacheBackend } from './cache.js';
import {
  edgeSummary,
  type Classification,
  type ClassificationAttempt,
  type UnverifiedReason,
} from './classification.js';
import type { ReclassifyConfig } from './config.js';
import { prepareImage, sha256Hex, type PreparedImage } from './image.js';
import { renderPrompt } from './prompt.js';
import type { VisionProvider } from './provider.js';
import { OllamaProvider } from './providers/ollama.js';
import { OpenAiProvider } from './providers/openai.js';

/**
 * Re-classification of one event: the stored thumbnail goes to the configured vision LLMs in fallback order until
 * one returns a valid answer, all within one latency budget.
 *
 *   cache hit? → answer at once (nothing paid)
 *   circuit open? → skip the provider
 *   ask (timeout = min(provider timeout, budget left))
 *     malformed / off-schema → ask the same provider again (malformed_retries), then count a failure
 *     429 with Retry-After that fits the budget → wait, ask once more
 *     other failure → count it, next provider
 *   budget gone → unverified, over_budget; every provider failed → unverified, unavailable
 *
 * Never throws for provider trouble: the caller always gets a Classification to decide on.
 */
export interface ReclassifyInput {
  eventId: string;
  camera: string;
  deviceId: string;
  /** The box's label and score. */
  label: string;
  score: number;
  /** The stored thumbnail (original bytes), or null when the event has none. */
  thumbnail: Uint8Array | null;
  /** Stops the work early (shutdown); the result is then over_budget. */
  signal?: AbortSignal | undefined;
}

interface ProviderSlot {
  name: string;
  kind: 'openai' | 'ollama' | 'none';
  provider: VisionProvider | null;
  timeoutMs: number;
  breaker: CircuitBreaker | null;
}

export interface ReclassifierOptions {
  config: ReclassifyConfig;
  /** Persistent half of the answer cache (a database table); memory only without it. */
  cacheBackend?: ClassificationCacheBackend | undefined;
  /** Replaces the providers built from config (tests); keyed by provider name. */
  providers?: Record<string, VisionProvider> | undefined;
  clock?: Clock;
  log?: Logger;
}

const MALFORMED = new Set(['llm_malformed_answer', 'llm_off_schema', 'llm_bad_response']);

export class Reclassifier {
  private readonly slots: ProviderSlot[];
  private readonly cache: ClassificationCache;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly budgetMs: number;
  private readonly schema = answerJsonSchema();
  private readonly inflight = new Map<string, Promise<Classification>>();
  /** Requests actually sent to providers, by provider name (cache hits excluded). */
  readonly requests = new Map<string, number>();

  constructor(private readonly options: ReclassifierOptions) {
    const c = options.config;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger();
    this.budgetMs = parseDuration(c.budget);
    this.cache = new ClassificationCache(c.cache.entries, options.cacheBackend, this.log);
    const cooldownMs = parseDuration(c.breaker.cooldown);
    const seen = new Set<string>();
    this.slots = c.providers.map((p, i) => {
      const name = p.name ?? p.kind;
      if (seen.has(name)) {
        throw new VigilError(
          'config_invalid',
          `reclassify.providers[${i}]: name "${name}" is used twice; give each provider a distinct name`,
          { details: { path: `/reclassify/providers/${i}/name` } },
        );
      }
      seen.add(name);
      const timeoutMs = parseDuration(p.timeout ?? c.request_timeout);
      if (p.kind === 'none') return { name, kind: 'none', provider: null, timeoutMs, breaker: null };
      const injected = options.providers?.[name];
      if (!injected && (!p.base_url || !p.model)) {
        throw new VigilError(
          'config_invalid',
          `reclassify.providers[${i}] (${p.kind}): base_url and model are required`,
          { details: { path: `/reclassify/providers/${i}` } },
        );
      }
      const provider =
        injected ??
        (p.kind === 'openai'
          ? new OpenAiProvider({
              name,
              baseUrl: p.base_url!,
              model: p.model!,
              apiKey: p.api_key,
              maxTokens: p.max_tokens,
              temperature: p.temperature,
            })
          : new OllamaProvider({
              name,
              baseUrl: p.base_url!,
              model: p.model!,
              maxTokens: p.max_tokens,
              temperature: p.temperature,
            }));
      return {
        name,
        kind: p.kind,
        provider,
        timeoutMs,
        breaker: new CircuitBreaker(c.breaker.failures, cooldownMs, this.clock),
      };
    });
  }

  /** True when at least one real LLM is configured (not only `none`). */
  get verifies(): boolean {
    return this.slots.some((s) => s.provider !== null);
  }

  breakerStates(): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const s of this.slots) if (s.breaker) out[s.name] = s.breaker.state;
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.provider?.close()));
  }

  /** Re-classifies one event. Concurrent calls for the same picture and label share one request. */
  async classify(input: ReclassifyInput): Promise<Classification> {
    const key = input.thumbnail
      ? `${sha256Hex(input.thumbnail)}:${input.label}:${input.camera}:${input.deviceId}`
      : null;
    if (key === null) return this.run(input);
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.run(input).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async run(input: ReclassifyInput): Promise<Classification> {
    const started = this.clock.now();
    const deadline = started + this.budgetMs;
    const attempts: ClassificationAttempt[] = [];
    const elapsed = (): number => this.clock.now() - started;
    const unverified = (reason: UnverifiedReason, imageSha: string | null): Classification => ({
      status: 'unverified',
      reason,
      classify_label: input.label,
      classify_confidence: input.score,
      classify_summary: edgeSummary(input.label, input.camera),
      classify_threat: null,
      agrees_with_edge: null,
      provider: 'none',
      model: null,
      ms: elapsed(),
      prompt_tokens: null,
      completion_tokens: null,
      cached: false,
      prompt_version: null,
      image_sha256: imageSha,
      attempts,
    });

    if (!this.verifies) return unverified('provider_none', input.thumbnail ? sha256Hex(input.thumbnail) : null);
    if (!input.thumbnail) return unverified('no_thumbnail', null);

    let image: PreparedImage;
    try {
      image = await prepareImage(input.thumbnail, {
        maxPx: this.options.config.image.max_px,
        quality: this.options.config.image.quality,
      });
    } catch (err) {
      attempts.push({
        provider: 'none',
        code: isVigilError(err) ? err.code : 'thumbnail_unreadable',
        message: describeError(err),
        ms: elapsed(),
      });
      return unverified('thumbnail_unreadable', sha256Hex(input.thumbnail));
    }
    const prompt = renderPrompt(this.options.config.prompts, {
      label: input.label,
      camera: input.camera,
      device: input.deviceId,
    });

    for (const slot of this.slots) {
      if (!slot.provider || !slot.breaker) continue; // `none` in the chain: nothing to ask
      const provider = slot.provider;
      const key = cacheKey({
        imageSha256: image.sha256,
        label: input.label,
        provider: slot.name,
        model: provider.model,
        promptVersion: prompt.version,
      });
      const hit = await this.cache.get(key);
      if (hit) {
        return {
          status: 'verified',
          reason: null,
          classify_label: hit.answer.label,
          classify_confidence: hit.answer.confidence,
          classify_summary: hit.answer.summary,
          classify_threat: hit.answer.threat,
          agrees_with_edge: hit.answer.agrees_with_edge,
          provider: hit.provider,
          model: hit.model,
          ms: elapsed(),
          prompt_tokens: hit.prompt_tokens,
          completion_tokens: hit.completion_tokens,
          cached: true,
          prompt_version: prompt.version,
          image_sha256: image.sha256,
          attempts,
        };
      }
      if (!slot.breaker.tryAcquire()) {
        attempts.push({
          provider: slot.name,
          code: 'llm_circuit_open',
          message: `${slot.name}: circuit open after repeated failures`,
          ms: 0,
        });
        continue;
      }

      let malformedLeft = this.options.config.malformed_retries;
      let rateLimitRetried = false;
      for (;;) {
        const remaining = deadline - this.clock.now();
        if (remaining <= 0 || input.signal?.aborted) {
          slot.breaker.release();
          return unverified('over_budget', image.sha256);
        }
        const timeoutMs = Math.min(slot.timeoutMs, remaining);
        const t0 = this.clock.now();
        this.requests.set(slot.name, (this.requests.get(slot.name) ?? 0) + 1);
        try {
          const reply = await provider.ask({ image, prompt, schema: this.schema, timeoutMs, signal: input.signal });
          const answer = parseAnswer(reply.text, slot.name);
          const ms = this.clock.now() - t0;
          slot.breaker.success();
          attempts.push({ provider: slot.name, code: null, message: null, ms });
          await this.cache.put(key, {
            answer,
            provider: slot.name,
            model: reply.model,
            prompt_tokens: reply.usage.prompt_tokens,
            completion_tokens: reply.usage.completion_tokens,
            ms,
            created_at: Date.now(),
          });
          return {
            status: 'verified',
            reason: null,
            classify_label: answer.label,
            classify_confidence: answer.confidence,
            classify_summary: answer.summary,
            classify_threat: answer.threat,
            agrees_with_edge: answer.agrees_with_edge,
            provider: slot.name,
            model: reply.model,
            ms: elapsed(),
            prompt_tokens: reply.usage.prompt_tokens,
            completion_tokens: reply.usage.completion_tokens,
            cached: false,
            prompt_version: prompt.version,
            image_sha256: image.sha256,
            attempts,
          };
        } catch (err) {
          const code = isVigilError(err) ? err.code : 'llm_unreachable';
          attempts.push({ provider: slot.name, code, message: describeError(err), ms: this.clock.now() - t0 });
          this.log.warn(
            { event_id: input.eventId, provider: slot.name, code, err: describeError(err) },
            'vision LLM attempt failed',
          );
          if (MALFORMED.has(code) && malformedLeft > 0) {
            malformedLeft -= 1;
            continue;
          }
          if (code === 'llm_rate_limited' && !rateLimitRetried && isVigilError(err)) {
            const wait = typeof err.details?.retry_after_ms === 'number' ? err.details.retry_after_ms : undefined;
            // Wait only if the wait and a request after it still fit the budget; else fall back now.
            if (wait !== undefined && this.clock.now() + wait < deadline - 50) {
              rateLimitRetried = true;
              try {
                await delay(wait, undefined, input.signal ? { signal: input.signal } : undefined);
              } catch {
                /* aborted: the loop head returns over_budget */
              }
              continue;
            }
          }
          // A timeout that only happened because the budget cut the request short says nothing about the provider.
          if (code === 'llm_aborted' || (code === 'llm_timeout' && timeoutMs < slot.timeoutMs)) slot.breaker.release();
          else slot.breaker.failure();
          break;
        }
      }
      if (deadline - this.clock.now() <= 0) return unverified('over_budget', image.sha256);
    }
    return unverified('unavailable', image.sha256);
  }
}
