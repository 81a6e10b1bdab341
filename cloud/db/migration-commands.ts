import type { Migration } from './migrations.js';

/**
 * Migration 11, the command channel (read and written by cloud/commands/repository.ts):
 *
 *   device_commands  one row per command issued to a box: what (kind, args), for how long (expires_at), how far it
 *                    got (queued → delivered → done / failed / expired), over which transport it was last handed
 *                    out (mqtt / http, for the long-poll's 30 s re-delivery), the box's CommandResult (JSON, a
 *                    snapshot's JPEG taken out of it and kept as a blob: snapshot_key, snapshot_sha256,
 *                    snapshot_size), and why it failed (the box's code, or device_offline)
 */
export const COMMANDS_MIGRATION: Migration = {
  version: 11,
  name: 'device commands (collector → box) and their results',
  statements: [
    `CREATE TABLE device_commands (
      id TEXT PRIMARY KEY,
      tenant_id TEXT NOT NULL REFERENCES tenants(id),
      device_id TEXT NOT NULL REFERENCES devices(id),
      kind TEXT NOT NULL,
      args_json TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'done', 'failed', 'expired')),
      issued_by TEXT,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      delivered_at BIGINT,
      delivered_via TEXT,
      deliveries BIGINT NOT NULL,
      finished_at BIGINT,
      result_json TEXT,
      code TEXT,
      message TEXT,
      snapshot_key TEXT,
      snapshot_sha256 TEXT,
      snapshot_size BIGINT
    )`,
    `CREATE INDEX device_commands_device ON device_commands (device_id, state, created_at)`,
    `CREATE INDEX device_commands_expiry ON device_commands (state, expires_at)`,
  ],
};
