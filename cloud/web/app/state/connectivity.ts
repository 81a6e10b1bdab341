import { createStore } from './store.js';

/**
 * Is the collector reachable? Any call without an answer marks it unreachable; then a probe retries with backoff
 * (2 s doubling to 30 s, at once when the browser says it is online again) until an answer comes, and the screens
 * that asked to be told reload what they show.
 */
export interface Connectivity {
  reachable: boolean;
  /** When the next probe runs (ms since epoch), while unreachable. */
  retryAt: number | null;
  attempts: number;
}

export const connectivity = createStore<Connectivity>({ reachable: true, retryAt: null, attempts: 0 });

const reconnectListeners = new Set<() => void>();
let timer: ReturnType<typeof setTimeout> | undefined;

/** Called after the collector answers again following an outage. */
export function onReconnect(fn: () => void): () => void {
  reconnectListeners.add(fn);
  return () => reconnectListeners.delete(fn);
}

async function probe(): Promise<boolean> {
  try {
    await fetch('/v1/session', { credentials: 'same-origin', cache: 'no-store' });
    return true;
  } catch {
    return false;
  }
}

function schedule(delayMs: number): void {
  clearTimeout(timer);
  connectivity.set((c) => ({ ...c, retryAt: Date.now() + delayMs }));
  timer = setTimeout(async () => {
    if (await probe()) markReachable();
    else {
      const attempts = connectivity.get().attempts + 1;
      connectivity.set((c) => ({ ...c, attempts }));
      schedule(Math.min(30_000, 2000 * 2 ** Math.min(attempts, 4)));
    }
  }, delayMs);
}

export function markUnreachable(): void {
  if (!connectivity.get().reachable) return;
  connectivity.set({ reachable: false, retryAt: null, attempts: 0 });
  schedule(2000);
}

export function markReachable(): void {
  if (connectivity.get().reachable) return;
  clearTimeout(timer);
  connectivity.set({ reachable: true, retryAt: null, attempts: 0 });
  for (const fn of [...reconnectListeners]) fn();
}

/** Probe now (the person pressed "Retry now", or the browser came back online). */
export function retryNow(): void {
  if (!connectivity.get().reachable) schedule(0);
}

if (typeof window !== 'undefined') window.addEventListener('online', retryNow);
