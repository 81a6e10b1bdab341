import { createHash } from 'node:crypto';
import type { Clock } from '../../shared/clock/index.js';
import { ulid } from '../../shared/ids/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { ModelUpdateArgs } from '../../firmware-protocol/messages/command.js';
import type { CommandRecord, CommandService } from '../commands/types.js';
import { isVigilError, VigilError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { ModelRegistry } from './registry.js';
import type {
  DeviceModelReport,
  ModelRecord,
  ModelRepository,
  RolloutDeviceRecord,
  RolloutRecord,
  RolloutTarget,
} from './repository.js';

/**
 * Rollouts of a ready model: `rollout` records the target (devices, or all of the tenant's active boxes, and a
 * percentage that picks a stable subset) and issues one `model_update` command per chosen box through the command
 * channel (cloud/commands, `CommandService.issue`); `onCommandFinished` (wired to `CommandService.onFinished`) records
 * how each ended; `recordHeartbeat` keeps the model each box reports. Per box the status is:
 *
 *   pending   the command waits for the box (queued)
 *   updating  the box has the command (delivered), or said done and no heartbeat shows the model yet
 *   active    the box's heartbeats report this model (id and sha256)
 *   failed    the box refused or failed the update (its code and message), the command could not be issued, or the
 *             box said done but a later heartbeat reports another model (`model_not_active`)
 *   expired   the command expired before the box answered (`device_offline`)
 */
export type RolloutBoxState = 'pending' | 'updating' | 'active' | 'failed' | 'expired';

export interface RolloutBoxStatus {
  device_id: string;
  rollout_id: string;
  command_id: string | null;
  state: RolloutBoxState;
  code: string | null;
  message: string | null;
  issued_at: string;
  finished_at: string | null;
  /** What the box's latest heartbeat reported (null: nothing yet). */
  reported: { model_id: string | null; sha256: string | null; since: string; at: string } | null;
}

export interface RolloutRequest {
  devices?: string[] | undefined;
  all?: boolean | undefined;
  percent?: number | undefined;
}

export interface ModelRolloutsOptions {
  /** Time to live of each model_update command (config models.command_ttl). */
  commandTtlMs: number;
  repo: ModelRepository;
  registry: ModelRegistry;
  store: Store;
  clock: Clock;
  log: Logger;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Stable bucket 0-9999 of a box for a model: a larger percentage of the same model chooses a superset. */
export function rolloutBucket(modelId: string, deviceId: string): number {
  return createHash('sha256').update(`${modelId}\n${deviceId}`).digest().readUInt32BE(0) % 10_000;
}

export class ModelRollouts {
  private commands: CommandService | undefined;

  constructor(private readonly o: ModelRolloutsOptions) {}

  /** Wires the command channel: rollouts issue through it, and their ends come back from it. */
  useCommands(commands: CommandService): void {
    if (this.commands === commands) return;
    this.commands = commands;
    commands.onFinished((record) => this.onCommandFinished(record));
  }

  /** Records a rollout and issues a model_update command to each chosen box. */
  async rollout(
    tenantId: string,
    modelId: string,
    request: RolloutRequest,
    createdBy: string | null,
  ): Promise<{ rollout: RolloutRecord; boxes: RolloutBoxStatus[] }> {
    const commands = this.commands;
    if (!commands) throw new VigilError('service_unavailable', 'the command channel is not running on this collector');
    const model = await this.o.registry.require(tenantId, modelId);
    if (model.state !== 'ready')
      throw new VigilError('model_not_ready', `model ${modelId} is ${model.state}; finalize it before a rollout`);
    const percent = request.percent ?? 100;
    const target: RolloutTarget = request.all ? { all: true, percent } : { devices: request.devices ?? [], percent };
    const candidates = await this.candidates(tenantId, target);
    const chosen = candidates.filter((d) => rolloutBucket(modelId, d) < percent * 100);
    // Strictly after the model's previous rollout, so "a box's latest rollout" is well defined within a millisecond.
    const previous = (await this.o.repo.listRollouts(modelId)).at(-1)?.createdAt ?? 0;
    const now = Math.max(this.o.clock.now(), previous + 1);
    const rollout: RolloutRecord = { id: `rol_${ulid(now)}`, tenantId, modelId, target, createdBy, createdAt: now };
    await this.o.repo.insertRollout(rollout, chosen);
    const args = this.commandArgs(model);
    for (const deviceId of chosen) {
      try {
        const command = await commands.issue({
          tenantId,
          deviceId,
          kind: 'model_update',
          args: args as unknown as Record<string, unknown>,
          ttlMs: this.o.commandTtlMs,
          ...(createdBy ? { issuedBy: createdBy } : {}),
        });
        await this.o.repo.setCommand(rollout.id, deviceId, command.id);
        // A command that ended before its id was recorded (in this process or another) is caught up at status.
        if (command.state !== 'queued' && command.state !== 'delivered') await this.onCommandFinished(command);
      } catch (err) {
        const code = isVigilError(err) ? err.code : 'internal_error';
        const message = err instanceof Error ? err.message : String(err);
        await this.o.repo.finish(
          { rolloutId: rollout.id, deviceId },
          { state: 'failed', code, message },
          this.o.clock.now(),
          null,
        );
        this.o.log.warn({ model_id: modelId, device_id: deviceId, code, err }, 'model_update not issued');
      }
    }
    this.o.log.info(
      { model_id: modelId, rollout_id: rollout.id, target, chosen: chosen.length, candidates: candidates.length },
      'model rollout issued',
    );
    const boxes = (await this.status(tenantId, modelId)).boxes.filter((b) => b.rollout_id === rollout.id);
    return { rollout, boxes };
  }

  /** Rollouts of a model and, per box, the status of its latest one. */
  async status(
    tenantId: string,
    modelId: string,
  ): Promise<{ model: ModelRecord; rollouts: RolloutRecord[]; boxes: RolloutBoxStatus[] }> {
    const model = await this.o.registry.require(tenantId, modelId);
    const [rollouts, rows] = await Promise.all([
      this.o.repo.listRollouts(modelId),
      this.o.repo.rolloutDevices(modelId),
    ]);
    const latest = new Map<string, RolloutDeviceRecord>();
    for (const r of rows) latest.set(r.deviceId, r);
    const reports = await this.o.repo.reports([...latest.keys()]);
    const boxes: RolloutBoxStatus[] = [];
    for (const row of latest.values()) {
      const { state, record } = await this.boxState(tenantId, model, row, reports.get(row.deviceId));
      const report = reports.get(row.deviceId);
      boxes.push({
        device_id: row.deviceId,
        rollout_id: row.rolloutId,
        command_id: record.commandId,
        state,
        code: state === 'failed' || state === 'expired' ? record.code : null,
        message: state === 'failed' || state === 'expired' ? record.message : null,
        issued_at: new Date(record.issuedAt).toISOString(),
        finished_at: iso(record.finishedAt),
        reported: report
          ? {
              model_id: report.running ? report.modelId : null,
              sha256: report.sha256,
              since: new Date(report.since).toISOString(),
              at: new Date(report.reportedAt).toISOString(),
            }
          : null,
      });
    }
    return { model, rollouts, boxes };
  }

  /** `CommandService.onFinished`: records the end of a rollout's model_update command (others are ignored). */
  async onCommandFinished(record: CommandRecord): Promise<void> {
    if (record.kind !== 'model_update') return;
    if (record.state !== 'done' && record.state !== 'failed' && record.state !== 'expired') return;
    const boxFinished = record.result ? Date.parse(record.result.finished_at) : NaN;
    const ended = await this.o.repo.finish(
      { commandId: record.id },
      {
        state: record.state,
        code: record.state === 'done' ? null : (record.code ?? (record.state === 'expired' ? 'device_offline' : null)),
        message: record.state === 'done' ? null : record.message,
      },
      record.finishedAt ?? this.o.clock.now(),
      Number.isNaN(boxFinished) ? null : boxFinished,
    );
    if (ended)
      this.o.log.info(
        { command_id: record.id, device_id: record.deviceId, state: record.state, code: record.code },
        'model_update ended',
      );
  }

  /** Keeps the `model` of a verified heartbeat (absent in heartbeats of boxes older than the field: nothing kept). */
  async recordHeartbeat(deviceId: string, heartbeat: unknown, receivedAtMs: number): Promise<void> {
    if (typeof heartbeat !== 'object' || heartbeat === null || !('model' in heartbeat)) return;
    const hb = heartbeat as { model?: { id?: string | null; sha256?: string } | null; sent_at?: string };
    const sentAt = typeof hb.sent_at === 'string' ? Date.parse(hb.sent_at) : NaN;
    const model = hb.model ? { id: hb.model.id ?? null, sha256: hb.model.sha256 ?? '' } : null;
    await this.o.repo.recordReport(deviceId, model, Number.isNaN(sentAt) ? receivedAtMs : sentAt, receivedAtMs);
  }

  private commandArgs(model: ModelRecord): ModelUpdateArgs {
    return {
      model_id: model.id,
      name: model.name,
      format: model.format,
      ...(model.labels ? { labels: model.labels } : {}),
      size: model.size,
      sha256: model.sha256,
      url: this.o.registry.downloadLink(model).path,
    };
  }

  private async candidates(tenantId: string, target: RolloutTarget): Promise<string[]> {
    if (target.all)
      return (await this.o.store.listDevices(tenantId))
        .filter((d) => d.revokedAt === null)
        .map((d) => d.id)
        .sort();
    const ids = [...new Set(target.devices ?? [])];
    for (const id of ids) {
      const device = await this.o.store.getDevice(tenantId, id);
      if (!device || device.revokedAt !== null)
        throw new VigilError('device_unknown', `device ${id} is not an active device of this tenant`, {
          details: { device_id: id },
        });
    }
    return ids;
  }

  /** A box's status from its row, its command (caught up when its end was not recorded) and its report. */
  private async boxState(
    tenantId: string,
    model: ModelRecord,
    row: RolloutDeviceRecord,
    report: DeviceModelReport | undefined,
  ): Promise<{ state: RolloutBoxState; record: RolloutDeviceRecord }> {
    let record = row;
    let commandState: CommandRecord['state'] | undefined;
    if (row.state === 'issued' && row.commandId !== null && this.commands) {
      const command = await this.commands.get(tenantId, row.deviceId, row.commandId);
      commandState = command?.state;
      if (command && commandState !== 'queued' && commandState !== 'delivered') {
        await this.onCommandFinished(command);
        record = (await this.o.repo.rolloutDevices(model.id)).find(
          (r) => r.rolloutId === row.rolloutId && r.deviceId === row.deviceId,
        )!;
      }
    }
    if (record.state === 'failed') return { state: 'failed', record };
    if (record.state === 'expired') return { state: 'expired', record };
    const runs = report?.running === true && report.modelId === model.id && report.sha256 === model.sha256;
    if (runs) return { state: 'active', record };
    if (record.state === 'done') {
      // The box said done, yet a heartbeat it sent after that names another model (it fell back, or was changed).
      if (report && record.boxFinishedAt !== null && report.sentAt > record.boxFinishedAt)
        return {
          state: 'failed',
          record: {
            ...record,
            code: 'model_not_active',
            message:
              `the box reported the update done, but its heartbeat of ${new Date(report.sentAt).toISOString()} ` +
              `names model ${report.running ? (report.modelId ?? 'of its config file') : 'none (motion only)'}`,
          },
        };
      return { state: 'updating', record };
    }
    return { state: commandState === 'delivered' ? 'updating' : 'pending', record };
  }
}
