import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ulid } from '../../shared/ids/index.js';
import { assetPath, projectRoot } from '../../shared/paths/index.js';
import type { CommandRecord, CommandService, IssueCommand } from '../commands/types.js';
import { sqliteBackend } from './support/backends.js';
import { pairTestBox, type TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

/**
 * `vigil-cloud model add|list|rollout|status` against a running collector over its HTTP API (the CLI's source run
 * with tsx, in a child process), with the real YOLOX-nano file.
 */
const run = promisify(execFile);
const root = projectRoot();
const YOLOX_FILE = assetPath('models', 'yolox_nano.onnx');

/** A command channel that only records what is issued (cloud/commands/types.ts). */
class RecordingCommands implements CommandService {
  readonly issued: IssueCommand[] = [];
  async issue(input: IssueCommand): Promise<CommandRecord> {
    this.issued.push(input);
    const now = Date.now();
    return {
      id: `cmd_${ulid(now)}`,
      ...input,
      state: 'queued',
      createdAt: now,
      expiresAt: now + 60_000,
      deliveredAt: null,
      finishedAt: null,
      result: null,
      code: null,
      message: null,
    };
  }
  async get(): Promise<CommandRecord | undefined> {
    return undefined;
  }
  onFinished(): void {}
}

describe('vigil-cloud model', () => {
  let t: TestCloud;
  let dir: string;
  const boxes: TestBox[] = [];
  const commands = new RecordingCommands();

  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend);
    t.cloud.models.useCommands(commands);
    boxes.push(await pairTestBox(t, 'a'), await pairTestBox(t, 'b'));
    dir = mkdtempSync(join(tmpdir(), 'vigil-model-cli-'));
  });
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function cli(
    args: string[],
    token: string | null = t.tokens.admin,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = { ...process.env, VIGIL_CLOUD_URL: t.url, VIGIL_CLOUD_TOKEN: token ?? '' };
    try {
      const r = await run(process.execPath, ['--import', 'tsx', 'cloud/cli/main.ts', 'model', ...args], {
        cwd: root,
        env,
        timeout: 60_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  it('adds a model (create, PUT, finalize), lists it, rolls it out and shows the status', async () => {
    const added = await cli(['add', YOLOX_FILE, '--name', 'yolox nano', '--format', 'yolox', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const model = JSON.parse(added.stdout) as { id: string; state: string; sha256: string; size: number };
    expect(model).toMatchObject({
      state: 'ready',
      size: 3_660_092,
      sha256: '695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14',
    });

    const listed = await cli(['list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${model.id}  ready +  yolox +3660092  yolox nano$`, 'm'));

    const [a, b] = boxes as [TestBox, TestBox];
    const rolled = await cli(['rollout', model.id, '--device', a.deviceId, '--device', b.deviceId]);
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(rolled.stderr).toMatch(/^rollout rol_\w+: 2 box\(es\)$/m);
    expect(rolled.stdout).toContain(`${a.deviceId}  pending   cmd_`);
    expect(commands.issued.map((c) => c.deviceId).sort()).toEqual([a.deviceId, b.deviceId].sort());
    expect(commands.issued.every((c) => c.kind === 'model_update' && c.args.model_id === model.id)).toBe(true);

    const status = await cli(['status', model.id, '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { counts: unknown }).counts).toEqual({
      pending: 2,
      updating: 0,
      active: 0,
      failed: 0,
      expired: 0,
    });
  });

  it('fails with the collector code for a corrupt file, and with usage errors for bad arguments', async () => {
    const corrupt = join(dir, 'corrupt.onnx');
    writeFileSync(corrupt, Buffer.from('this is not an ONNX protobuf, not even close'));
    const refused = await cli(['add', corrupt, '--name', 'bad', '--format', 'yolox']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/vigil-cloud: error: model_rejected: onnxruntime cannot load/);

    const both = await cli(['rollout', 'mdl_X', '--all', '--device', 'd']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('either --device (one or more) or --all');
    const format = await cli(['add', YOLOX_FILE, '--name', 'x', '--format', 'tflite']);
    expect(format.code).toBe(2);
    const noToken = await cli(['list'], null);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('VIGIL_CLOUD_TOKEN');
    const reader = await cli(['add', YOLOX_FILE, '--name', 'x', '--format', 'yolox'], t.tokens.reader);
    expect(reader.code).toBe(1);
    expect(reader.stderr).toContain('forbidden');
  });
});
