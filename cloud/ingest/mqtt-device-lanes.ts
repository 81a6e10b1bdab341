/**
 * Ordering between the concurrent messages of one device, where it matters: a thumbnail waits until every message
 * of its device received before it has settled (its event usually arrived just before it; taken first, the
 * thumbnail would be refused as `unknown_event` and resent much later). Events and heartbeats need no order: the
 * store applies event revisions by rev and never lets an older heartbeat overwrite a newer one.
 */
export class DeviceLanes {
  private readonly running = new Map<string, Set<Promise<unknown>>>();

  /** Must be called in arrival order (synchronously when a message arrives). */
  async run<T>(deviceId: string, afterEarlier: boolean, fn: () => Promise<T>): Promise<T> {
    let mine = this.running.get(deviceId);
    if (!mine) {
      mine = new Set();
      this.running.set(deviceId, mine);
    }
    const earlier = afterEarlier ? [...mine] : [];
    const p = (async () => {
      if (earlier.length > 0) await Promise.allSettled(earlier);
      return fn();
    })();
    mine.add(p);
    try {
      return await p;
    } finally {
      mine.delete(p);
      if (mine.size === 0) this.running.delete(deviceId);
    }
  }
}
