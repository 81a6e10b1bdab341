import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { MODEL_FORMATS } from '../../firmware-protocol/messages.js';
import { MODEL_ID_PATTERN, MODEL_ID_RE, SHA256_HEX_PATTERN } from '../../firmware-protocol/patterns.js';
import { PRIVATE_FILE_MODE } from '../../shared/fs/index.js';
import { validator } from '../../shared/schema/index.js';
import { writeFileAtomic } from '../../shared/fs/index.js';
import { describeError, VigilError } from '../errors.js';

/**
 * The box's model registry on disk, under `<data_dir>/models/` (the folder the motion models are cached in too):
 *
 *   registry/<model_id>.onnx   models installed by model_update commands (downloaded, hash-checked, renamed in)
 *   registry/.<…>.part         downloads in progress (removed when they fail; stale ones when the registry is pruned)
 *   active.json                the registry model the daemon runs instead of the config's `model.path`
 *
 * `active.json` is written atomically after a new model passed its warm-up and before it is swapped in, so a
 * restart runs the model the collector was told about. Without it (or after it was dropped because its model
 * failed to load at start) the daemon runs the config's model.
 */
export const MODELS_DIR = 'models';
export const REGISTRY_DIR = 'registry';
export const ACTIVE_MODEL_FILE = 'active.json';

export const ActiveModelSchema = Type.Object(
  {
    v: Type.Literal(1),
    model_id: Type.String({ pattern: MODEL_ID_PATTERN }),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    format: Type.Union(MODEL_FORMATS.map((f) => Type.Literal(f))),
    labels: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 1000 })),
    size: Type.Integer({ minimum: 1 }),
    sha256: Type.String({ pattern: SHA256_HEX_PATTERN }),
    activated_at: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false, description: 'The registry model the daemon runs (models/active.json).' },
);
export type ActiveModel = Static<typeof ActiveModelSchema>;

const validateActive = validator(ActiveModelSchema, { code: 'model_registry_invalid', registry: VigilError });

export function modelsDir(dataDir: string): string {
  return join(dataDir, MODELS_DIR);
}

export function registryDir(dataDir: string): string {
  return join(dataDir, MODELS_DIR, REGISTRY_DIR);
}

export function activeModelFile(dataDir: string): string {
  return join(dataDir, MODELS_DIR, ACTIVE_MODEL_FILE);
}

/** Where a registry model's file lives. The id is checked against the pattern: it becomes a file name. */
export function registryModelFile(dataDir: string, modelId: string): string {
  if (!MODEL_ID_RE.test(modelId)) throw new VigilError('model_registry_invalid', `not a model id: ${modelId}`);
  return join(registryDir(dataDir), `${modelId}.onnx`);
}

/** The persisted choice, undefined when there is none; `model_registry_invalid` when the file is not one. */
export function readActiveModel(dataDir: string): ActiveModel | undefined {
  const file = activeModelFile(dataDir);
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new VigilError('model_registry_invalid', `${file}: ${describeError(err)}`, { details: { path: file } });
  }
  return validateActive.parse(value, file);
}

/** Persists the choice (temp file, fsync, rename: a crash leaves the old or the new file, never half of one). */
export function writeActiveModel(dataDir: string, active: ActiveModel): void {
  const checked = validateActive.parse(active, 'active model');
  writeFileAtomic(activeModelFile(dataDir), `${JSON.stringify(checked, null, 2)}\n`, {
    mode: PRIVATE_FILE_MODE,
    dirMode: 0o700,
  });
}

/** Forgets the choice: the next start runs the config's model. */
export function clearActiveModel(dataDir: string): void {
  rmSync(activeModelFile(dataDir), { force: true });
}

/**
 * Removes registry files other than the models named in `keep` (the running one), and downloads left half-done.
 * Returns the names removed. Never throws: a file that cannot be removed is left for the next prune.
 */
export function pruneRegistry(dataDir: string, keep: readonly string[]): string[] {
  const dir = registryDir(dataDir);
  if (!existsSync(dir)) return [];
  const kept = new Set(keep.map((id) => `${id}.onnx`));
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    if (kept.has(name)) continue;
    if (!name.endsWith('.onnx') && !name.endsWith('.part')) continue;
    try {
      rmSync(join(dir, name), { force: true });
      removed.push(name);
    } catch {
      // left for the next prune
    }
  }
  return removed;
}
