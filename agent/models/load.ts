import { componentLogger, type Logger } from '../../shared/log/index.js';
import { detectorOptionsFrom, type DetectorConfig } from '../detect/config.js';
import { ObjectDetector, type DetectorOptions } from '../detect/detector.js';
import { DetectorSlot } from '../detect/detector-slot.js';
import type { ModelType } from '../detect/types.js';
import { describeError, VigilError } from '../errors.js';
import { clearActiveModel, pruneRegistry, readActiveModel, registryModelFile, type ActiveModel } from './registry.js';

/**
 * Which detector the daemon runs at start (and after a reload that changed the `model` section): the registry
 * model chosen by the last successful model_update (models/active.json), or the config's `model.path`.
 *
 * A registry model replaces the config's file, output layout and labels — those describe one file — and keeps the
 * config's runtime settings (threads, score and IoU thresholds, SSD box order). The config's input normalization
 * overrides are not applied to it: a registry model is read with its format's defaults.
 *
 * When the persisted model does not load (file gone or damaged — its SHA-256 is checked against the one recorded —
 * or onnxruntime refuses it), the daemon falls back by itself to the config's model: the reason is logged, kept for
 * the status document, and active.json is removed so the next start does not try again. The config's model not
 * loading is a config error, as before. Registry files other than the running model's are removed at start.
 */
export interface LoadedDetector {
  slot: DetectorSlot;
  /** Why the persisted registry model was not used (null when it was, or when there was none). */
  fallback: string | null;
}

/** The detector options of a registry model under the config's runtime settings. */
export function registryDetectorOptions(
  config: DetectorConfig,
  model: { path: string; format: ModelType; labels?: readonly string[] | undefined },
): DetectorOptions {
  const base = detectorOptionsFrom(config);
  return {
    modelPath: model.path,
    type: model.format,
    ...(base.threads !== undefined ? { threads: base.threads } : {}),
    ...(base.scoreThreshold !== undefined ? { scoreThreshold: base.scoreThreshold } : {}),
    ...(base.iouThreshold !== undefined ? { iouThreshold: base.iouThreshold } : {}),
    ...(base.boxOrder !== undefined ? { boxOrder: base.boxOrder } : {}),
    ...(model.labels ? { labels: [...model.labels] } : {}),
  };
}

/** Loads a registry model and checks that its bytes are the ones recorded. */
export async function loadRegistryModel(
  config: DetectorConfig,
  dataDir: string,
  m: Pick<ActiveModel, 'model_id' | 'format' | 'labels' | 'sha256'>,
  logger: Logger,
): Promise<ObjectDetector> {
  const path = registryModelFile(dataDir, m.model_id);
  const detector = await ObjectDetector.create({
    ...registryDetectorOptions(config, { path, format: m.format, labels: m.labels }),
    logger,
  });
  if (detector.sha256 !== m.sha256) {
    await detector.close();
    throw new VigilError('model_hash_mismatch', `${path}: SHA-256 ${detector.sha256}; ${m.sha256} expected`);
  }
  return detector;
}

export async function loadDetector(o: {
  config: DetectorConfig;
  dataDir: string;
  logger: Logger;
}): Promise<LoadedDetector> {
  const log = componentLogger(o.logger, 'models');
  const detectLog = componentLogger(o.logger, 'detect');
  let fallback: string | null = null;
  let active: ActiveModel | undefined;
  try {
    active = readActiveModel(o.dataDir);
  } catch (err) {
    fallback = describeError(err);
  }
  if (active) {
    try {
      const detector = await loadRegistryModel(o.config, o.dataDir, active, detectLog);
      const removed = pruneRegistry(o.dataDir, [active.model_id]);
      log.info({ model_id: active.model_id, name: active.name, sha256: active.sha256, removed }, 'registry model');
      return { slot: new DetectorSlot(detector, { id: active.model_id, name: active.name }, log), fallback: null };
    } catch (err) {
      fallback = `registry model ${active.model_id} (${active.name}): ${describeError(err)}`;
    }
  }
  if (fallback !== null) {
    log.warn(
      { err: fallback, config_model: o.config.path },
      'the persisted model does not load; running the config model',
    );
    try {
      clearActiveModel(o.dataDir);
    } catch (err) {
      log.warn({ err: describeError(err) }, 'cannot remove models/active.json');
    }
  }
  const detector = await ObjectDetector.create({ ...detectorOptionsFrom(o.config), logger: detectLog });
  // Registry files no choice names (a model that failed, downloads a crash cut short) are not kept.
  pruneRegistry(o.dataDir, []);
  return { slot: new DetectorSlot(detector, { id: null, name: null }, log), fallback };
}
