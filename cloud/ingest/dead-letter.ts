import { createHash } from 'node:crypto';
import { describeError, isVigilError } from '../../shared/errors/index.js';
import type { Clock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { DeadLetterLedger, FailedMessage, FailureVerdict } from '../store/dead-letters.js';
import type { IngestMetrics } from './metrics.js';

/**
 * Poison-message containment. Every failure while handling one message (HTTP request or MQTT message; events,
 * batch, heartbeat, thumbnail) is one of two kinds:
 *
 * - the SENDER's fault: a wire error with a 4xx status (bad JSON, schema, limits, conflicts …). HTTP answers it; MQTT
 *   acks it `rejected` with its code when final (the box drops the item) or leaves it unacked when transient.
 * - OURS: anything else (a bug, a 5xx, a storage failure). HTTP answers 5xx and MQTT keeps the message un-PUBACKed
 *   and retries it, so nothing is lost to a passing outage. But a message that fails as ours again and again, while
 *   the database and the blob store answer (so it is this message, not an outage), would be retried forever and,
 *   over MQTT, hold back every later PUBACK of its connection. After `ingest.dead_letter_after` such failures it is
 *   moved to the dead-letter table with its bytes and error, and acked (HTTP 422 `dead_lettered`; MQTT an ack item
 *   `rejected`/`dead_lettered` and the PUBACK): it can no longer stall anyone, and an operator can look at it
 *   (`GET /v1/admin/dead-letters`, `vigil-cloud dead-letter list`).
 *
 * Failures are counted per message CONTENT (kind, device, event, body SHA-256), in the database, so a box's resend
 * (new signature, same body), a broker redelivery and a collector restart all count towards the same message.
 * While the health probe fails (database or blob store down) nothing is counted: that is an outage, not poison.
 */
/** The ledger's types live with its table (cloud/store/dead-letters.ts). */
export type { DeadLetterLedger, FailedMessage, FailureRecord, FailureVerdict } from '../store/dead-letters.js';

/** True for a failure that is the sender's (a 4xx wire error); everything else is ours. */
export function isSendersFault(err: unknown): boolean {
  if (!isVigilError(err)) return false;
  const status = err.status ?? 500;
  return status >= 400 && status < 500;
}

export function messageFingerprint(m: Pick<FailedMessage, 'kind' | 'deviceId' | 'eventId' | 'bodySha256'>): string {
  const identity = [m.kind, m.deviceId, m.eventId ?? '', m.bodySha256].join('\n');
  return createHash('sha256').update(identity, 'utf8').digest('hex');
}

export interface ContainmentOptions {
  ledger?: DeadLetterLedger | undefined;
  /** Throws while the collector's storage is unavailable (failures then are an outage, not counted). */
  probe?: (() => Promise<void>) | undefined;
  maxAttempts: number;
  metrics: IngestMetrics;
  clock: Clock;
  log: Logger;
}

const ERROR_MESSAGE_MAX = 2000;

export class Containment {
  constructor(private readonly o: ContainmentOptions) {}

  /**
   * A failure that is ours. Resolves with the verdict, or `undefined` when the message should simply be retried
   * (no ledger, storage unavailable, or the ledger itself failing). Never throws.
   */
  async ourFailure(m: FailedMessage, err: unknown): Promise<FailureVerdict | undefined> {
    const { metrics, log } = this.o;
    metrics.counts.failures_ours++;
    const code = isVigilError(err) ? err.code : 'internal_error';
    const message = describeError(err).slice(0, ERROR_MESSAGE_MAX);
    const where = { transport: m.transport, kind: m.kind, device_id: m.deviceId, route: m.route.slice(0, 200), code };
    if (!this.o.ledger) {
      log.error({ ...where, err: message }, 'handling a message failed on our side; it will be retried');
      return undefined;
    }
    try {
      await this.o.probe?.();
    } catch (probeErr) {
      metrics.counts.failures_during_outage++;
      const probe = describeError(probeErr);
      log.error(
        { ...where, err: message, probe },
        'a message failed while storage is unavailable; retried, not counted',
      );
      return undefined;
    }
    try {
      const verdict = await this.o.ledger.recordFailure(
        { ...m, fingerprint: messageFingerprint(m), errorCode: code, errorMessage: message },
        this.o.maxAttempts,
        this.o.clock.now(),
      );
      if (verdict.newlyDead) {
        metrics.counts.dead_lettered++;
        const fields = { ...where, err: message, attempts: verdict.attempts, dead_letter_id: verdict.id };
        log.error(fields, 'message dead-lettered after repeated failures on our side');
      } else if (!verdict.dead) {
        const fields = { ...where, err: message, attempts: verdict.attempts, max: this.o.maxAttempts };
        log.error(fields, 'handling a message failed on our side; it will be retried');
      }
      return verdict;
    } catch (ledgerErr) {
      metrics.counts.failures_during_outage++;
      const ledger = describeError(ledgerErr);
      log.error({ ...where, err: message, ledger }, 'a message failed and its failure could not be recorded; retried');
      return undefined;
    }
  }
}
