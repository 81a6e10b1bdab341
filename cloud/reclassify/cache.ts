import type { Logger } from '../../shared/log/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { describeError } from '../../shared/errors/index.js';
import type { ClassificationAnswer } from './answer.js';

/**
 * Answers already paid for. Keyed by the picture's SHA-256, the edge label, the provider (name and model) and the
 * prompt version, so the same picture asked the same question is never sent twice — not after a retry, not after
 * a restart. Two layers: an in-memory LRU, and an optional persistent backend (a table in the collector's
 * database, see cloud/queue) that survives restarts and is shared by collectors on one database.
 */
export interface CachedAnswer {
  answer: ClassificationAnswer;
  provider: string;
  model: string;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  /** How long the original request took, ms. */
  ms: number;
  created_at: number;
}

export interface CacheKeyParts {
  imageSha256: string;
  label: string;
  provider: string;
  model: string;
  promptVersion: string;
}

export function cacheKey(p: CacheKeyParts): string {
  return `${p.imageSha256}:${p.label}:${p.provider}/${p.model}:${p.promptVersion}`;
}

export interface ClassificationCacheBackend {
  get(key: string): Promise<CachedAnswer | undefined>;
  put(key: string, value: CachedAnswer): Promise<void>;
}

export class ClassificationCache {
  private readonly memory = new Map<string, CachedAnswer>();

  constructor(
    private readonly entries: number,
    private readonly backend?: ClassificationCacheBackend,
    private readonly log: Logger = silentLogger(),
  ) {}

  get size(): number {
    return this.memory.size;
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    const hit = this.memory.get(key);
    if (hit) {
      // Re-insert: Map order is the LRU order.
      this.memory.delete(key);
      this.memory.set(key, hit);
      return hit;
    }
    if (!this.backend) return undefined;
    try {
      const stored = await this.backend.get(key);
      if (stored) this.remember(key, stored);
      return stored;
    } catch (err) {
      // A cache that cannot be read costs money, not correctness.
      this.log.warn({ err: describeError(err) }, 'classification cache read failed');
      return undefined;
    }
  }

  async put(key: string, value: CachedAnswer): Promise<void> {
    this.remember(key, value);
    if (!this.backend) return;
    try {
      await this.backend.put(key, value);
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'classification cache write failed');
    }
  }

  private remember(key: string, value: CachedAnswer): void {
    if (this.entries <= 0) return;
    this.memory.delete(key);
    this.memory.set(key, value);
    while (this.memory.size > this.entries) {
      const oldest = this.memory.keys().next().value;
      if (oldest === undefined) break;
      this.memory.delete(oldest);
    }
  }
}

/** A backend in a Map, for tests and single-process use without a database. */
export class MemoryCacheBackend implements ClassificationCacheBackend {
  readonly map = new Map<string, CachedAnswer>();
  async get(key: string): Promise<CachedAnswer | undefined> {
    return this.map.get(key);
  }
  async put(key: string, value: CachedAnswer): Promise<void> {
    this.map.set(key, value);
  }
}
