import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { VigilError, type CloudErrorCode } from '../errors.js';
import { ApiClient, usage, withApiOptions, type ApiOpts } from './api-client.js';
import { printJson } from './common.js';

/**
 * `vigil-cloud command send --device ID <kind> [--camera NAME] [--width N] [--out FILE] [--wait S] [--ttl D]`:
 * sends a command to a box over the collector's HTTP API with an admin token (`--url`/`VIGIL_CLOUD_URL`,
 * `--token`/`VIGIL_CLOUD_TOKEN`) — POST /v1/devices/{id}/commands — and waits up to `--wait` seconds for it to end
 * (GET /v1/devices/{id}/commands/{cid}). Done: prints the box's result (JSON); a snapshot's JPEG is written to `--out`
 * (GET /v1/devices/{id}/snapshots/{cid}). Failed, refused or expired: exits non-zero with the error
 * (command_failed, command_refused, device_offline) and the box's reason; still running after `--wait`: exits 3
 * with command_pending and the command id (follow it with the API).
 */
interface SendOpts extends ApiOpts {
  device: string;
  camera?: string;
  width?: string;
  out?: string;
  wait: string;
  ttl?: string;
}

interface CommandView {
  id: string;
  state: 'queued' | 'delivered' | 'done' | 'failed' | 'expired';
  /** The box's CommandResult (its output in `result.result`). */
  result: { status: string; result?: Record<string, unknown> } | null;
  error: { code: CloudErrorCode; reason: string | null; message: string } | null;
  snapshot_url: string | null;
}

function argsOf(kind: string, o: SendOpts): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (o.camera !== undefined) args.camera = o.camera;
  if (o.width !== undefined) {
    if (!/^\d{1,5}$/.test(o.width)) throw usage(`--width must be a whole number of pixels, got "${o.width}"`);
    args.width = Number(o.width);
  }
  if (kind === 'snapshot' && args.camera === undefined) throw usage('snapshot needs --camera NAME');
  return args;
}

/** Sends the command and waits for its end; returns what was printed (for tests). */
export async function sendCommand(kind: string, o: SendOpts): Promise<CommandView> {
  const api = new ApiClient(o);
  if (!/^\d+(\.\d+)?$/.test(o.wait)) throw usage(`--wait must be seconds, got "${o.wait}"`);
  const device = encodeURIComponent(o.device);
  const issued = await api.json<{ id: string }>('POST', `/v1/devices/${device}/commands`, {
    kind,
    args: argsOf(kind, o),
    ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
  });
  const deadline = Date.now() + Number(o.wait) * 1000;
  let view = await api.json<CommandView>('GET', `/v1/devices/${device}/commands/${issued.id}`);
  while ((view.state === 'queued' || view.state === 'delivered') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(250, Math.max(10, deadline - Date.now()))));
    view = await api.json<CommandView>('GET', `/v1/devices/${device}/commands/${issued.id}`);
  }
  if (view.state === 'queued' || view.state === 'delivered')
    throw new VigilError('command_pending', `${view.id} is still ${view.state} after ${o.wait} s`, {
      details: { exitCode: 3, command_id: view.id },
    });
  if (view.error) {
    const reason = view.error.reason && view.error.reason !== view.error.code ? ` (${view.error.reason})` : '';
    throw new VigilError(view.error.code, `${view.id}: ${view.error.message}${reason}`, {
      details: { command_id: view.id, reason: view.error.reason },
    });
  }
  if (o.out !== undefined) {
    if (!view.snapshot_url) throw usage(`--out: ${view.id} (${kind}) has no snapshot to write`);
    const jpeg = Buffer.from(await (await api.call('GET', view.snapshot_url)).arrayBuffer());
    await writeFile(o.out, jpeg, { mode: 0o600 });
  }
  return view;
}

export function registerCommand(program: Command): void {
  const cmd = program.command('command').description('send commands to boxes (snapshot, status, reload_config)');
  withApiOptions(cmd.command('send'), 'print the whole command as JSON')
    .description('send a command to a box and wait for its result')
    .argument('<kind>', 'snapshot, status, reload_config (model_update: use vigil-cloud model rollout)')
    .requiredOption('--device <id>', 'the box (device id)')
    .option('--camera <name>', 'snapshot: the camera')
    .option('--width <pixels>', 'snapshot: width of the JPEG (default the frame width)')
    .option('--out <file>', 'snapshot: write the JPEG here')
    .option('--wait <seconds>', 'how long to wait for the result', '30')
    .option('--ttl <duration>', 'how long the command waits for the box, e.g. 5m (default commands.ttl)')
    .action(async (kind: string, o: SendOpts) => {
      const view = await sendCommand(kind, o);
      if (o.json) return printJson(view);
      if (o.out !== undefined) {
        const r = view.result?.result ?? {};
        process.stdout.write(`${o.out}: ${String(r.size)} bytes, ${String(r.width)}x${String(r.height)}\n`);
        return;
      }
      printJson(view.result?.result ?? {});
    });
}
