/**
 * Tables of the verify-then-notify stage, in the collector's database (SQLite and PostgreSQL, same SQL; booleans
 * as BIGINT 0/1 so both dialects read them alike). Registered as a store migration (cloud/store/migrations.ts).
 *
 *   jobs                 the work queue (./jobs.ts); one row per (kind, event id)
 *   event_verifications  what the vision LLM said, the policy's decision and the push state of each event
 *   push_deliveries      per-token outcome of an event's push (resends skip tokens already settled)
 *   notify_cooldowns     last push per tenant + device + camera + label (claimed atomically: no double push)
 *   classification_cache answers already paid for, by picture SHA-256 + label + provider + prompt version
 */
export const VERIFY_NOTIFY_TABLES: readonly string[] = [
  `CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    event_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts BIGINT NOT NULL,
    run_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (kind, event_id)
  )`,
  `CREATE INDEX jobs_due ON jobs (kind, state, run_at)`,
  `CREATE TABLE event_verifications (
    event_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    classify_label TEXT,
    classify_confidence DOUBLE PRECISION,
    classify_summary TEXT,
    classify_threat BIGINT,
    agrees_with_edge BIGINT,
    provider TEXT,
    model TEXT,
    ms BIGINT,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    cached BIGINT,
    image_sha256 TEXT,
    attempts_json TEXT,
    classified_at BIGINT,
    decision TEXT,
    decision_detail TEXT,
    push_state TEXT,
    push_at BIGINT,
    push_json TEXT,
    updated_at BIGINT NOT NULL
  )`,
  `CREATE TABLE push_deliveries (
    event_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status BIGINT,
    reason TEXT,
    attempts BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, target_id)
  )`,
  `CREATE TABLE notify_cooldowns (
    tenant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    camera TEXT NOT NULL,
    label TEXT NOT NULL,
    last_push_at BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, device_id, camera, label)
  )`,
  `CREATE TABLE classification_cache (
    cache_key TEXT PRIMARY KEY,
    answer_json TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`,
];
