import { parseDuration, systemClock, type Clock } from '../../shared/clock/index.js';
import { componentLogger, silentLogger, type Logger } from '../../shared/log/index.js';
import { ApnsSender, apnsOptionsFromConfig } from './apns.js';
import type { PushConfig } from './config.js';
import { FcmSender, serviceAccountFromConfig } from './fcm.js';
import type { PushSender } from './notification.js';
import { PushService } from './service.js';
import { WebPushSender } from './webpush.js';

/**
 * Phone push: one sender per configured platform (apns.ts, fcm.ts, webpush.ts) behind PushService, which fans a
 * notification out to many targets. Who gets a push, and recording outcomes / pruning invalid tokens, is up to
 * the caller.
 *
 *   const push = createPushService(config.push, { logger });
 *   const results = await push.send(notification, targets);
 */
export * from './notification.js';
export { PushConfigSchema, type PushConfig } from './config.js';
export { PushService, type PushResult, type PushServiceOptions } from './service.js';
export { ApnsSender, ApnsProviderToken } from './apns.js';
export { FcmSender, FcmAccessToken } from './fcm.js';
export { WebPushSender } from './webpush.js';

export interface CreatePushOptions {
  clock?: Clock;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
}

/** The senders the config asks for. Throws VigilError `push_config_invalid` for unreadable keys/files. */
export function createPushSenders(config: PushConfig, options: CreatePushOptions = {}): PushSender[] {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger();
  const ttlMs = parseDuration(config.ttl);
  const timeoutMs = parseDuration(config.timeout);
  const senders: PushSender[] = [];
  if (config.apns) {
    senders.push(
      new ApnsSender({
        ...apnsOptionsFromConfig(config.apns),
        ttlMs,
        timeoutMs,
        tokenRefreshMs: parseDuration(config.apns.token_refresh),
        clock,
        logger: componentLogger(logger, 'push.apns'),
      }),
    );
  }
  if (config.fcm) {
    senders.push(
      new FcmSender({
        account: serviceAccountFromConfig(config.fcm),
        endpoint: config.fcm.endpoint,
        ...(config.fcm.project_id ? { projectId: config.fcm.project_id } : {}),
        ...(config.fcm.token_uri ? { tokenUri: config.fcm.token_uri } : {}),
        ttlMs,
        timeoutMs,
        clock,
        logger: componentLogger(logger, 'push.fcm'),
      }),
    );
  }
  if (config.webpush) {
    senders.push(
      new WebPushSender({
        subject: config.webpush.subject,
        publicKey: config.webpush.public_key,
        privateKey: config.webpush.private_key,
        ttlMs,
        timeoutMs,
        clock,
        logger: componentLogger(logger, 'push.webpush'),
      }),
    );
  }
  return senders;
}

export function createPushService(config: PushConfig, options: CreatePushOptions = {}): PushService {
  const logger = options.logger ?? silentLogger();
  return new PushService({
    senders: createPushSenders(config, options),
    concurrency: config.concurrency,
    maxAttempts: config.max_attempts,
    backoffBaseMs: parseDuration(config.backoff_base),
    maxRetryWaitMs: parseDuration(config.max_retry_wait),
    logger: componentLogger(logger, 'push'),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
}
