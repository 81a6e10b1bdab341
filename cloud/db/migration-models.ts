import type { Migration } from './migrations.js';

/**
 * Migration 12, the model registry (read and written by cloud/models/):
 *
 *   models                 one row per registered ONNX model of a tenant: what was announced (name, format, labels,
 *                          size, sha256), where its bytes are (blob key) and how far it got: pending_upload →
 *                          uploaded → ready (finalize loaded it) or invalid (finalize refused it, with the reason)
 *   model_rollouts         each POST /v1/models/{id}/rollout: the target as asked ({devices} or all, percent)
 *   model_rollout_devices  one row per box a rollout chose: the model_update command issued to it and how it ended
 *                          (issued → done / failed with the box's code and message / expired)
 *   device_models          the model each box reports in its heartbeats (`model`): id (NULL for the config's own
 *                          file), sha256, since when, and the heartbeat's sent_at (box clock) and arrival
 */
export const MODELS_MIGRATION: Migration = {
  version: 12,
  name: 'model registry: models, rollouts, rollout devices, device model reports',
  statements: [
    `CREATE TABLE models (
      id TEXT PRIMARY KEY,
      tenant_id TEXT NOT NULL REFERENCES tenants(id),
      name TEXT NOT NULL,
      format TEXT NOT NULL,
      labels_json TEXT,
      size BIGINT NOT NULL,
      sha256 TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending_upload', 'uploaded', 'ready', 'invalid')),
      blob_key TEXT,
      signature_json TEXT,
      error_code TEXT,
      error_message TEXT,
      created_by TEXT,
      created_at BIGINT NOT NULL,
      uploaded_at BIGINT,
      finalized_at BIGINT
    )`,
    `CREATE INDEX models_tenant ON models (tenant_id, created_at)`,
    `CREATE TABLE model_rollouts (
      id TEXT PRIMARY KEY,
      tenant_id TEXT NOT NULL REFERENCES tenants(id),
      model_id TEXT NOT NULL REFERENCES models(id),
      target_json TEXT NOT NULL,
      percent BIGINT NOT NULL,
      created_by TEXT,
      created_at BIGINT NOT NULL
    )`,
    `CREATE INDEX model_rollouts_model ON model_rollouts (model_id, created_at)`,
    `CREATE TABLE model_rollout_devices (
      rollout_id TEXT NOT NULL REFERENCES model_rollouts(id),
      device_id TEXT NOT NULL,
      model_id TEXT NOT NULL,
      command_id TEXT,
      state TEXT NOT NULL CHECK (state IN ('issuing', 'issued', 'done', 'failed', 'expired')),
      code TEXT,
      message TEXT,
      issued_at BIGINT NOT NULL,
      finished_at BIGINT,
      box_finished_at BIGINT,
      PRIMARY KEY (rollout_id, device_id)
    )`,
    `CREATE INDEX model_rollout_devices_command ON model_rollout_devices (command_id)`,
    `CREATE INDEX model_rollout_devices_model ON model_rollout_devices (model_id, device_id, issued_at)`,
    `CREATE TABLE device_models (
      device_id TEXT PRIMARY KEY REFERENCES devices(id),
      running BIGINT NOT NULL,
      model_id TEXT,
      sha256 TEXT,
      since BIGINT NOT NULL,
      sent_at BIGINT NOT NULL,
      reported_at BIGINT NOT NULL
    )`,
  ],
};
