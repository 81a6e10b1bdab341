import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { durationSetting as Duration } from '../../shared/config/index.js';

/** `models.*`: the model registry (./registry.ts) and its signed upload and download URLs (./links.ts). */
export const ModelsConfigSchema = Type.Object(
  {
    max_size: Type.Integer({
      minimum: 1024,
      maximum: 4 * 1024 * 1024 * 1024,
      default: 256 * 1024 * 1024,
      description:
        'Largest ONNX file POST /v1/models accepts, in bytes (finalize reads the whole file into memory to load ' +
        'it once with onnxruntime).',
    }),
    upload_url_ttl: Duration(
      '1h',
      'How long the presigned upload URL of a new model (PUT /v1/models/{id}/upload?exp=…&sig=…) stays valid.',
    ),
    command_ttl: Duration(
      '24h',
      'How long the model_update command of a rollout waits for an offline box before it ends expired ' +
        '(device_offline); cut to commands.max_ttl.',
    ),
    download_url_ttl: Duration(
      '7d',
      'How long the signed download URL in a model_update command (GET /v1/models/{id}/file?exp=…&sig=…) stays ' +
        'valid; keep it longer than commands.ttl, so a box that gets the command late can still download.',
    ),
  },
  { default: {}, additionalProperties: false, description: 'The model registry (ONNX detectors rolled out to boxes).' },
);
export type ModelsConfig = Static<typeof ModelsConfigSchema>;

/** The section with every default filled (classes used without a config). */
export function modelsConfig(partial: Partial<ModelsConfig> = {}): ModelsConfig {
  return Value.Default(ModelsConfigSchema, { ...partial }) as ModelsConfig;
}
