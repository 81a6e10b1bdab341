import type { PushTokenRecord, PushTokenStore } from '../store/push-tokens.js';
import type { PushTarget } from './notification.js';
import type { PushResult } from './service.js';

/**
 * Between the token store and PushService: stored registrations become targets (carrying the registration id),
 * and results go back as recorded outcomes, invalid tokens pruned.
 */
export function pushTargetOf(r: PushTokenRecord): PushTarget {
  if (r.platform === 'webpush') {
    return {
      id: r.id,
      platform: 'webpush',
      subscription: { endpoint: r.token, keys: { p256dh: r.p256dh ?? '', auth: r.auth ?? '' } },
    };
  }
  return { id: r.id, platform: r.platform, token: r.token };
}

export interface RecordedResults {
  sent: number;
  pruned: number;
  retry: number;
  failed: number;
}

/** Records each result on its registration and prunes the ones the provider called invalid. */
export async function recordPushResults(
  store: PushTokenStore,
  results: readonly PushResult[],
  now: number,
): Promise<RecordedResults> {
  const counts: RecordedResults = { sent: 0, pruned: 0, retry: 0, failed: 0 };
  for (const { target, outcome } of results) {
    if (target.id === undefined) continue;
    if (outcome.status === 'invalid_token') {
      if (await store.pruneToken(target.id)) counts.pruned++;
      continue;
    }
    await store.recordOutcome(target.id, outcome, now);
    counts[outcome.status]++;
  }
  return counts;
}
