/**
 * Counter increments that could not be written yet. A refusal on a full disk is counted at once in memory and
 * written with the next transaction that commits (every write of the outbox applies what is pending), so a counter
 * whose own write failed is not lost, and reads (stats, heartbeats) add what is pending to what is stored.
 */
export class PendingCounters {
  private readonly pending = new Map<string, number>();

  add(name: string, n = 1): void {
    if (n !== 0) this.pending.set(name, (this.pending.get(name) ?? 0) + n);
  }

  get size(): number {
    return this.pending.size;
  }

  /** What is pending now, to apply inside a transaction; `settle` it once that transaction committed. */
  snapshot(): Array<[string, number]> {
    return [...this.pending.entries()];
  }

  settle(applied: ReadonlyArray<[string, number]>): void {
    for (const [name, n] of applied) {
      const left = (this.pending.get(name) ?? 0) - n;
      if (left === 0) this.pending.delete(name);
      else this.pending.set(name, left);
    }
  }

  /** Stored counters plus what is pending. */
  merge(stored: Record<string, number>): Record<string, number> {
    const out = { ...stored };
    for (const [name, n] of this.pending) out[name] = (out[name] ?? 0) + n;
    return out;
  }
}
