/**
 * Counters of what ingest did, per transport. Read by the status endpoint / logs; reset only by a restart.
 * `unauthenticated` counts traffic that got no answer because nobody could be shown to have signed it (MQTT).
 */
export class IngestMetrics {
  readonly counts = {
    http_requests: 0,
    mqtt_messages: 0,
    events_stored: 0,
    events_duplicate: 0,
    events_rejected: 0,
    /** Review messages (kind review) stored and resent duplicates. */
    reviews_stored: 0,
    reviews_duplicate: 0,
    thumbnails_stored: 0,
    thumbnails_duplicate: 0,
    heartbeats: 0,
    acks_published: 0,
    mqtt_unauthenticated: 0,
    mqtt_replays_reprocessed: 0,
    mqtt_store_retries: 0,
    /** Failures on the collector's side (not the sender's), each retried (see ./dead-letter.ts). */
    failures_ours: 0,
    /** Of those, failures while the storage probe failed (an outage: not counted towards dead-lettering). */
    failures_during_outage: 0,
    /** Messages moved to the dead-letter table. */
    dead_lettered: 0,
  };
  /** Rejections by wire error code, both transports. */
  readonly rejections = new Map<string, number>();

  reject(code: string): void {
    this.rejections.set(code, (this.rejections.get(code) ?? 0) + 1);
  }

  snapshot(): Record<string, unknown> {
    return { ...this.counts, rejections: Object.fromEntries(this.rejections) };
  }
}
