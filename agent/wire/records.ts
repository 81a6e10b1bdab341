import { isReviewItem, validateEvent, validateReview } from '../../firmware-protocol/messages.js';

/**
 * The check the outbox runs on every record before it accepts it (OutboxOptions.validateEvent): a protocol Review
 * when the record says `kind: "review"`, else a protocol Event. Throws `invalid_message` naming the field.
 */
export function validateRecord(record: unknown): void {
  if (isReviewItem(record)) validateReview.parse(record, 'review');
  else validateEvent.parse(record, 'event');
}
