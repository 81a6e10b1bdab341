/**
 * Long-polls waiting for a device's commands, in this collector process: `wait` resolves when `wake(device)` is
 * called (a command was issued here), after `ms`, when the signal aborts (the box hung up) or on `close()`. A
 * command issued on another collector sharing the database is seen at the poller's next re-check.
 */
export class PollWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();
  private closed = false;

  wait(deviceId: string, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const set = this.waiting.get(deviceId) ?? new Set<() => void>();
      this.waiting.set(deviceId, set);
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0 && this.waiting.get(deviceId) === set) this.waiting.delete(deviceId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  wake(deviceId: string): void {
    for (const done of [...(this.waiting.get(deviceId) ?? [])]) done();
  }

  /** Long-polls open now (for metrics and tests). */
  count(): number {
    let n = 0;
    for (const s of this.waiting.values()) n += s.size;
    return n;
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.waiting.keys()]) this.wake(id);
  }
}
