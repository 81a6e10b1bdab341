import { COMMANDS_MIGRATION } from './migration-commands.js';
import { LISTING_INDEXES_MIGRATION } from './migration-listing-indexes.js';
import { MODELS_MIGRATION } from './migration-models.js';
/**
 * The collector's schema, every table of every stage, as ONE ordered list of migrations (applied by ./migrate.ts),
 * the same SQL for SQLite and PostgreSQL (types both accept: TEXT, BIGINT, DOUBLE PRECISION; booleans as BIGINT
 * 0/1 so both dialects read them alike). Times are BIGINT milliseconds since the epoch.
 *
 * Never edit a released migration (a database migrated by an older collector must be accepted as it is): add the
 * next one. Which folder reads and writes each table:
 *
 *   store/   tenants, api_tokens, pairing_codes, devices, device_keys, device_status, events, event_messages,
 *            thumbnails, nonces (1, 4, 6, 13); push_tokens (2, 10, store/push-tokens.ts); dead_letters (7,
 *            store/dead-letters.ts); reviews, review_messages, review_tags, event_zones (8, 13, store/sql-reviews.ts,
 *            store/event-zones.ts); camera_snoozes (8, store/sql-snoozes.ts)
 *   queue/   jobs (3)
 *   notify/  event_verifications, push_deliveries, notify_cooldowns, classification_cache (3; the last is the
 *            persistent half of reclassify/'s answer cache); review_notifications, review_deliveries (8)
 *   broker/  deployment_meta (5)          accounts/ users, user_sessions (9)
 *   live/    live_change_seq, live_changes (9, live/change-journal.ts)
 *   commands/ device_commands (11, ./migration-commands.ts)
 *   models/  models, model_rollouts, model_rollout_devices, device_models (12, ./migration-models.ts)
 */

export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

/**
 * Phone push registrations: one row per (tenant, platform, token) where the token is the APNs device token, the FCM
 * registration token or the Web Push endpoint (with the subscription's p256dh/auth keys). Migration 2.
 */
const PUSH_TOKENS: readonly string[] = [
  `CREATE TABLE push_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    platform TEXT NOT NULL CHECK (platform IN ('apns', 'fcm', 'webpush')),
    token TEXT NOT NULL,
    p256dh TEXT,
    auth TEXT,
    app_id TEXT,
    device_label TEXT,
    api_token_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_status TEXT,
    last_http_status BIGINT,
    last_reason TEXT,
    last_attempt_at BIGINT,
    last_sent_at BIGINT,
    failures BIGINT NOT NULL,
    UNIQUE (tenant_id, platform, token)
  )`,
  `CREATE INDEX push_tokens_tenant ON push_tokens (tenant_id, created_at)`,
];

/**
 * Verify-then-notify (migration 3):
 *
 *   jobs                 the work queue (cloud/queue/jobs.ts); one row per (kind, event id)
 *   event_verifications  what the vision LLM said, the policy's decision and the push state of each event
 *   push_deliveries      per-token outcome of an event's push (resends skip tokens already settled)
 *   notify_cooldowns     last push per tenant + device + camera + label (claimed atomically: no double push)
 *   classification_cache answers already paid for, by picture SHA-256 + label + provider + prompt version
 */
const VERIFY_NOTIFY: readonly string[] = [
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

/**
 * The deployment id (cloud/broker/deployment.ts): one random id per collector database, key/value. Migration 5.
 */
const DEPLOYMENT_META: readonly string[] = [
  `CREATE TABLE deployment_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`,
];

/**
 * No event left open (cloud/store/event-sweep.ts), migration 6. Both dialects: ADD COLUMN, and a partial index over
 * the (few) active events.
 */
const EVENT_END: readonly string[] = [
  'ALTER TABLE events ADD COLUMN end_reason TEXT',
  'ALTER TABLE device_status ADD COLUMN boot_id TEXT',
  // Collector time (ms) the current boot started: received_at of its first heartbeat minus the box's uptime.
  'ALTER TABLE device_status ADD COLUMN boot_started_at BIGINT',
  // Collector time (ms) the current boot id was first seen (the quiet time of the restart path counts from it).
  'ALTER TABLE device_status ADD COLUMN boot_seen_at BIGINT',
  "CREATE INDEX events_active_device ON events (device_id, created_at) WHERE status = 'active'",
];

/**
 * Dead letters (cloud/store/dead-letters.ts, written by ingest's poison containment), migration 7: one row per message
 * that failed on the collector's side, keyed by the message fingerprint (kind, device, event, body SHA-256). A row is
 * `failing` while its failures are below the threshold and `dead` once the message was moved out of the way (acked);
 * the body is kept (base64) from then on. `tenant_id` is the device's tenant when the device is known, so an admin
 * token sees its own tenant's dead letters only.
 */
const DEAD_LETTERS: readonly string[] = [
  `CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    tenant_id TEXT,
    device_id TEXT NOT NULL,
    transport TEXT NOT NULL,
    kind TEXT NOT NULL,
    event_id TEXT,
    route TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('failing', 'dead')),
    attempts BIGINT NOT NULL,
    error_code TEXT NOT NULL,
    error_message TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    body_size BIGINT NOT NULL,
    body_b64 TEXT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    dead_at BIGINT
  )`,
  `CREATE INDEX dead_letters_listing ON dead_letters (tenant_id, state, last_seen_at)`,
];

/**
 * Review items, zones and snoozes (migration 8):
 *
 *   reviews              one row per review item (firmware-protocol Review), its current state by rev; the
 *                        reviewed mark is the collector's own (set through the API)
 *   review_messages      every review message received, by (device, review id, rev), with its dedupe fingerprint
 *   review_tags          the current item's objects (event ids), labels and zones, one row each, for the filters
 *                        and for "which review items hold this event"
 *   event_zones          the zones each event entered (Event.zones; they only grow), for GET /v1/events?zone=. Events
 *                        stored before this version have none here: the box filled no zones before review items.
 *   camera_snoozes       per tenant + device + camera: no push until `snoozed_until`
 *   review_notifications the push of each review item (notify/): decision, state and the last notification sent;
 *                        `push_seq` counts the pushes sent for the item (1 = the first, later ones update it)
 *   review_deliveries    per-token outcome of each push of an item
 */
const REVIEWS: readonly string[] = [
  `CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    device_id TEXT NOT NULL REFERENCES devices(id),
    camera TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('alert', 'detection')),
    status TEXT NOT NULL CHECK (status IN ('active', 'ended')),
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    objects_json TEXT NOT NULL,
    labels_json TEXT NOT NULL,
    zones_json TEXT NOT NULL,
    thumbnail_event TEXT,
    last_rev BIGINT NOT NULL,
    message_json TEXT NOT NULL,
    reviewed_at BIGINT,
    reviewed_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`,
  `CREATE INDEX reviews_tenant_started ON reviews (tenant_id, started_at DESC, id DESC)`,
  `CREATE INDEX reviews_device ON reviews (device_id, started_at)`,
  `CREATE TABLE review_messages (
    device_id TEXT NOT NULL,
    review_id TEXT NOT NULL,
    rev BIGINT NOT NULL,
    content_sha256 TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    message_json TEXT NOT NULL,
    PRIMARY KEY (device_id, review_id, rev)
  )`,
  `CREATE TABLE review_tags (
    review_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('object', 'label', 'zone')),
    value TEXT NOT NULL,
    PRIMARY KEY (review_id, kind, value)
  )`,
  `CREATE INDEX review_tags_value ON review_tags (kind, value, review_id)`,
  `CREATE TABLE event_zones (
    event_id TEXT NOT NULL,
    zone TEXT NOT NULL,
    PRIMARY KEY (event_id, zone)
  )`,
  `CREATE INDEX event_zones_zone ON event_zones (zone, event_id)`,
  `CREATE TABLE camera_snoozes (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    device_id TEXT NOT NULL REFERENCES devices(id),
    camera TEXT NOT NULL,
    snoozed_until BIGINT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, device_id, camera)
  )`,
  `CREATE TABLE review_notifications (
    review_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    decision TEXT,
    decision_detail TEXT,
    push_state TEXT CHECK (push_state IN ('sending', 'sent')),
    push_seq BIGINT NOT NULL,
    push_json TEXT,
    first_push_at BIGINT,
    last_push_at BIGINT,
    updated_at BIGINT NOT NULL
  )`,
  `CREATE TABLE review_deliveries (
    review_id TEXT NOT NULL,
    push_seq BIGINT NOT NULL,
    target_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status BIGINT,
    reason TEXT,
    attempts BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (review_id, push_seq, target_id)
  )`,
];

/**
 * Owner accounts and the live feed's change journal (migration 9):
 *
 *   users            web app logins (accounts/): email (lower case, unique), tenant, role, scrypt hash with its
 *                    parameters
 *   user_sessions    login sessions (accounts/): the SHA-256 of the cookie's secret, the CSRF token, absolute expiry,
 *                    last use (idle expiry), revocation
 *   live_change_seq  per tenant: the last change number handed out (the row lock orders appends: numbers are
 *                    committed in order across collectors) and the last number pruned from the journal
 *   live_changes     the live feed's changes by (tenant, seq) (live/change-journal.ts): the SSE `id:` and what
 *                    `Last-Event-ID` replays; pruned after api.stream_replay_window, one heartbeat row per device
 */
const ACCOUNTS_AND_JOURNAL: readonly string[] = [
  `CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'reader')),
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
  )`,
  `CREATE INDEX users_tenant ON users (tenant_id, email)`,
  `CREATE TABLE user_sessions (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
  )`,
  `CREATE INDEX user_sessions_user ON user_sessions (user_id)`,
  `CREATE TABLE live_change_seq (
    tenant_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL
  )`,
  `CREATE TABLE live_changes (
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    device_id TEXT NOT NULL,
    event_id TEXT,
    review_id TEXT,
    rev BIGINT,
    at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
  )`,
  `CREATE INDEX live_changes_recorded ON live_changes (recorded_at)`,
  `CREATE INDEX live_changes_device ON live_changes (tenant_id, device_id, type)`,
];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    statements: [
      `CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `INSERT INTO tenants (id, name, created_at) VALUES ('default', 'default', 0)`,
      `CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'reader')),
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      )`,
      `CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id)`,
      `CREATE TABLE pairing_codes (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT,
        code_sha256 TEXT NOT NULL UNIQUE,
        hint TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        used_by_device TEXT,
        revoked_at BIGINT
      )`,
      `CREATE INDEX pairing_codes_tenant ON pairing_codes (tenant_id, created_at)`,
      `CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      )`,
      `CREATE INDEX devices_tenant ON devices (tenant_id, created_at)`,
      `CREATE TABLE device_keys (
        device_id TEXT NOT NULL REFERENCES devices(id),
        key_id TEXT NOT NULL,
        secret_sealed TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'retired')),
        created_at BIGINT NOT NULL,
        retired_at BIGINT,
        PRIMARY KEY (device_id, key_id)
      )`,
      `CREATE TABLE device_status (
        device_id TEXT PRIMARY KEY REFERENCES devices(id),
        last_seen_at BIGINT,
        last_heartbeat_at BIGINT,
        clock_skew_ms BIGINT,
        version TEXT,
        outbox_depth BIGINT,
        dropped BIGINT,
        cameras_json TEXT,
        heartbeat_json TEXT
      )`,
      `CREATE TABLE events (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        device_id TEXT NOT NULL REFERENCES devices(id),
        camera TEXT NOT NULL,
        label TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        box_json TEXT,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        duration_ms BIGINT,
        status TEXT NOT NULL CHECK (status IN ('active', 'ended')),
        last_rev BIGINT NOT NULL,
        thumbnail_sha256 TEXT,
        thumbnail_size BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        message_json TEXT NOT NULL
      )`,
      `CREATE INDEX events_tenant_started ON events (tenant_id, started_at DESC, id DESC)`,
      `CREATE INDEX events_tenant_device_started ON events (tenant_id, device_id, started_at DESC, id DESC)`,
      `CREATE INDEX events_tenant_label_started ON events (tenant_id, label, started_at DESC, id DESC)`,
      `CREATE TABLE event_messages (
        device_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        rev BIGINT NOT NULL,
        content_sha256 TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        message_json TEXT NOT NULL,
        PRIMARY KEY (device_id, event_id, rev)
      )`,
      `CREATE TABLE thumbnails (
        event_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        device_id TEXT NOT NULL REFERENCES devices(id),
        blob_key TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        content_type TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE nonces (
        device_id TEXT NOT NULL,
        nonce TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (device_id, nonce)
      )`,
      `CREATE INDEX nonces_expiry ON nonces (expires_at)`,
    ],
  },
  { version: 2, name: 'push tokens', statements: [...PUSH_TOKENS] },
  {
    version: 3,
    name: 'verify and notify: jobs, verifications, push deliveries, cooldowns, answer cache',
    statements: [...VERIFY_NOTIFY],
  },
  {
    // Codes are now stored under a keyed hash (cloud/pairing/codes.ts). A code made before cannot be checked under
    // it, and its unkeyed hash + 3-character hint gave the code away: pending ones are revoked (revoked_at =
    // created_at marks "revoked by this upgrade"; make new codes), and every old hash and hint is wiped.
    version: 4,
    name: 'pairing codes under a keyed hash: old pending codes revoked, unkeyed hashes and hints wiped',
    statements: [
      `UPDATE pairing_codes SET revoked_at = created_at WHERE used_at IS NULL AND revoked_at IS NULL`,
      `UPDATE pairing_codes SET code_sha256 = 'wiped-unkeyed:' || id, hint = ''`,
    ],
  },
  { version: 5, name: 'deployment id (deployment_meta)', statements: [...DEPLOYMENT_META] },
  {
    version: 6,
    name: 'no event left open: events.end_reason, device boot ids, index of active events',
    statements: [...EVENT_END],
  },
  {
    version: 7,
    name: 'dead letters: messages that failed repeatedly on the collector side',
    statements: [...DEAD_LETTERS],
  },
  { version: 8, name: 'review items, event zones, camera snoozes, review pushes', statements: [...REVIEWS] },
  {
    version: 9,
    name: 'owner accounts and sessions; the live feed change journal',
    statements: [...ACCOUNTS_AND_JOURNAL],
  },
  {
    // What each phone or browser is notified of (labels, cameras, quiet hours), as JSON; NULL = everything.
    version: 10,
    name: 'notification preferences per push registration',
    statements: ['ALTER TABLE push_tokens ADD COLUMN preferences_json TEXT'],
  },
  COMMANDS_MIGRATION, // 11: device commands (./migration-commands.ts)
  MODELS_MIGRATION, // 12: model registry (./migration-models.ts)
  LISTING_INDEXES_MIGRATION, // 13: listing indexes ascending (./migration-listing-indexes.ts)
];
