import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../shared/clock/index.js';
import { AgentConfigSchema, DEFAULT_AGENT_DATA_DIR } from '../config.js';
import { DETECTOR_DEFAULTS, DetectorConfigSchema } from '../detect/config.js';
import { Outbox, OUTBOX_DEFAULTS, outboxConfig, outboxOptionsFrom } from '../outbox/index.js';
import { TRACKER_DEFAULTS, TrackerConfigSchema } from '../track/index.js';
import { UPLINK_DEFAULTS, uplinkConfig, uplinkSettingsFrom } from '../uplink/index.js';

/**
 * Defaults are written once, in the TypeBox schemas; what a class uses when it is built without config (CLI,
 * tests, benches) is derived from them. These check that the derived defaults are the schema's and complete.
 */
describe('defaults come from the config schemas', () => {
  it('an Outbox opened without settings has the outbox section’s budget and retention', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-defaults-'));
    try {
      const ob = Outbox.open({ path: join(dir, 'outbox.db') });
      expect(ob.budgetBytes).toBe(outboxConfig().budget_bytes);
      expect(ob.retentionMs).toBe(parseDuration(outboxConfig().retention));
      ob.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(OUTBOX_DEFAULTS).toEqual(outboxOptionsFrom(Value.Default(AgentConfigSchema.properties.outbox, {}) as never));
    expect(outboxOptionsFrom(outboxConfig({ budget_bytes: 2 ** 21, retention: '1h' }))).toMatchObject({
      budgetBytes: 2 ** 21,
      retentionMs: 3_600_000,
    });
  });

  it('the Uplink’s defaults are the uplink section’s, and the section’s values reach it', () => {
    expect(UPLINK_DEFAULTS).toEqual({
      ackTimeoutMs: 30_000,
      heartbeatIntervalMs: 30_000,
      batchMaxEvents: 100,
      maxInFlightItems: 2_000,
      concurrency: 4,
      messagesPerSecond: 18,
      messageBurst: 180,
    });
    expect(uplinkSettingsFrom(uplinkConfig({ ack_timeout: '5s', messages_per_second: 0 }))).toMatchObject({
      ackTimeoutMs: 5_000,
      messagesPerSecond: 0,
    });
  });

  it('the tracker’s defaults are the schema’s, every setting present', () => {
    expect(Value.Check(TrackerConfigSchema, TRACKER_DEFAULTS)).toBe(true);
    expect(Object.keys(TRACKER_DEFAULTS).sort()).toEqual(Object.keys(TrackerConfigSchema.properties).sort());
    expect(TRACKER_DEFAULTS).toMatchObject({ min_score: 0.5, threshold: 0.7, match_iou: 0.3 });
  });

  it('the detector’s defaults are the model section’s', () => {
    const model = Value.Default(DetectorConfigSchema, { path: 'm.onnx' }) as Record<string, unknown>;
    expect(DETECTOR_DEFAULTS).toMatchObject({
      type: model.type,
      threads: model.threads,
      scoreThreshold: model.score_threshold,
      iouThreshold: model.iou_threshold,
      boxOrder: model.box_order,
    });
    expect(DETECTOR_DEFAULTS).toMatchObject({ type: 'auto', threads: 1, scoreThreshold: 0.3, iouThreshold: 0.45 });
  });

  it('the data directory default is written once (the config schema’s)', () => {
    expect(Value.Default(AgentConfigSchema, {})).toMatchObject({ data_dir: DEFAULT_AGENT_DATA_DIR });
  });
});
