import type { Migration } from './migrations.js';

/**
 * Migration 13: the time-ordered listing indexes of events and review items in ascending order.
 *
 * They were (…, started_at DESC, id DESC), the order the API lists in. New rows carry the newest started_at, so every
 * insert went to the left edge of those B-trees, where neither SQLite nor PostgreSQL has an append fast path: a
 * single-event commit wrote 17.0 WAL frames on SQLite, 15.3 with the same indexes ascending (measured on
 * `bench:ingest`'s request shape). Both databases read an ascending index backwards for ORDER BY started_at DESC,
 * id DESC, so the listings keep their plans (an index scan, no sort). Same names, same columns.
 */
export const LISTING_INDEXES_MIGRATION: Migration = {
  version: 13,
  name: 'listing indexes of events and review items ascending (new rows append at the right edge)',
  statements: [
    'DROP INDEX events_tenant_started',
    'CREATE INDEX events_tenant_started ON events (tenant_id, started_at, id)',
    'DROP INDEX events_tenant_device_started',
    'CREATE INDEX events_tenant_device_started ON events (tenant_id, device_id, started_at, id)',
    'DROP INDEX events_tenant_label_started',
    'CREATE INDEX events_tenant_label_started ON events (tenant_id, label, started_at, id)',
    'DROP INDEX reviews_tenant_started',
    'CREATE INDEX reviews_tenant_started ON reviews (tenant_id, started_at, id)',
  ],
};
