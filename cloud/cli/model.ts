import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { MODEL_FORMATS } from '../../firmware-protocol/messages/command.js';
import { sha256File } from '../../shared/fs/index.js';
import { ApiClient, usage, withApiOptions, type ApiOpts } from './api-client.js';
import { parseChoice, printJson } from './common.js';

/**
 * `vigil-cloud model add|list|rollout|status`: the model registry over the collector's HTTP API with an admin token
 * (`--url`/`VIGIL_CLOUD_URL`, `--token`/`VIGIL_CLOUD_TOKEN`), so it works against any collector, local or remote:
 *
 *   model add FILE --name N --format yolox|yolo|ssd [--labels a,b]   POST /v1/models → PUT the file to the presigned
 *                                                                     upload URL (streamed) → POST …/finalize
 *   model list                                                        GET /v1/models
 *   model rollout ID (--device D… | --all) [--percent N]              POST /v1/models/{id}/rollout
 *   model status ID                                                   GET /v1/models/{id}/rollout
 */
interface ModelJson {
  id: string;
  name: string;
  format: string;
  size: number;
  sha256: string;
  state: string;
  error: { code: string; message: string } | null;
  created_at: string;
}

interface BoxJson {
  device_id: string;
  state: string;
  code: string | null;
  message: string | null;
  command_id: string | null;
  reported: { model_id: string | null; sha256: string | null } | null;
}

function positiveInt(value: string, flag: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw usage(`${flag} must be an integer 1-${max}, got "${value}"`);
  return n;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerModel(program: Command): void {
  const cmd = program.command('model').description('register ONNX models and roll them out to boxes (HTTP API)');

  withApiOptions(cmd.command('add').description('upload an ONNX model: create, PUT the file, finalize'))
    .argument('<file>', 'the .onnx file')
    .requiredOption('-n, --name <name>', 'human name of the model')
    .requiredOption('-f, --format <format>', `output layout: ${MODEL_FORMATS.join(', ')}`)
    .option('--labels <list>', 'class names by output index, comma-separated')
    .action(async (file: string, o: ApiOpts & { name: string; format: string; labels?: string }) => {
      const format = parseChoice(o.format, MODEL_FORMATS, '--format');
      const labels = o.labels?.split(',').map((l) => l.trim());
      if (labels?.some((l) => l === '')) throw usage('--labels has an empty name');
      const api = new ApiClient(o);
      const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
        throw usage(`cannot read ${file}: ${err.code ?? err.message}`);
      });
      if (!info.isFile()) throw usage(`${file} is not a file`);
      const sha256 = await sha256File(file);
      const created = await api.json<{ id: string; upload_url: string }>('POST', '/v1/models', {
        name: o.name,
        format,
        ...(labels ? { labels } : {}),
        size: info.size,
        sha256,
      });
      if (!o.json) process.stderr.write(`created ${created.id}; uploading ${info.size} bytes\n`);
      await api.upload(created.upload_url, file, info.size);
      const model = await api.json<ModelJson>('POST', `/v1/models/${created.id}/finalize`, {});
      if (o.json) return printJson(model);
      process.stdout.write(`${model.id}\n`);
      process.stderr.write(`model "${model.name}" (${model.format}, sha256 ${model.sha256}) is ${model.state}\n`);
    });

  withApiOptions(cmd.command('list').description("the tenant's models, newest first")).action(async (o: ApiOpts) => {
    const { models } = await new ApiClient(o).json<{ models: ModelJson[] }>('GET', '/v1/models');
    if (o.json) return printJson({ models });
    if (models.length === 0) return void process.stdout.write('no models\n');
    for (const m of models) {
      const error = m.error ? `  ${m.error.code}: ${m.error.message.slice(0, 80)}` : '';
      const cols = [m.id, m.state.padEnd(14), m.format.padEnd(5), String(m.size).padStart(10), m.name];
      process.stdout.write(`${cols.join('  ')}${error}\n`);
    }
  });

  withApiOptions(cmd.command('rollout').description('send a ready model to boxes (model_update commands)'))
    .argument('<id>', 'model id (mdl_…)')
    .option('--device <id>', 'a box to update (repeat for more)', collect)
    .option('--all', "every active box of the token's tenant")
    .option('--percent <n>', 'only this share of the target (a stable choice per model and box)')
    .action(async (id: string, o: ApiOpts & { device?: string[]; all?: boolean; percent?: string }) => {
      if ((o.all === true) === (o.device !== undefined)) throw usage('give either --device (one or more) or --all');
      const percent = o.percent === undefined ? undefined : positiveInt(o.percent, '--percent', 100);
      const body = {
        ...(o.all ? { all: true } : { devices: o.device }),
        ...(percent === undefined ? {} : { percent }),
      };
      const rollout = await new ApiClient(o).json<{ id: string; devices: BoxJson[] }>(
        'POST',
        `/v1/models/${encodeURIComponent(id)}/rollout`,
        body,
      );
      if (o.json) return printJson(rollout);
      process.stderr.write(`rollout ${rollout.id}: ${rollout.devices.length} box(es)\n`);
      printBoxes(rollout.devices);
    });

  withApiOptions(cmd.command('status').description('rollout status of a model, box by box'))
    .argument('<id>', 'model id (mdl_…)')
    .action(async (id: string, o: ApiOpts) => {
      const status = await new ApiClient(o).json<{ devices: BoxJson[]; counts: Record<string, number> }>(
        'GET',
        `/v1/models/${encodeURIComponent(id)}/rollout`,
      );
      if (o.json) return printJson(status);
      printBoxes(status.devices);
      const counts = Object.entries(status.counts).map(([k, v]) => `${k} ${v}`);
      process.stdout.write(`${counts.join(', ')}\n`);
    });
}

function printBoxes(boxes: BoxJson[]): void {
  for (const b of boxes) {
    const why = b.code ? `  ${b.code}${b.message ? `: ${b.message.slice(0, 100)}` : ''}` : '';
    process.stdout.write(`${b.device_id}  ${b.state.padEnd(8)}  ${b.command_id ?? '-'}${why}\n`);
  }
}
