import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { projectRoot } from '../../../shared/paths/index.js';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import type { OutboxStats } from '../../outbox/index.js';
import type { UplinkMetrics } from '../../uplink/index.js';

/** Drives agent-process.ts as a child process: the thing a fault test kills. */
export interface AgentProcessConfig {
  dataDir: string;
  url: string;
  clockSyncUrl?: string;
  device: DeviceCredentials;
  ackTimeoutMs?: number;
  budgetBytes?: number;
  logFile?: string;
}

export class AgentProcess {
  readonly accepted = new Set<string>();
  readonly refused = new Map<string, string>();
  private child: ChildProcess | undefined;
  private waiters: Array<{
    match: (line: string) => boolean;
    resolve: (line: string) => void;
    reject: (err: Error) => void;
  }> = [];
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly cfg: AgentProcessConfig) {}

  async start(): Promise<void> {
    const { device, ...rest } = this.cfg;
    const arg = JSON.stringify({
      ...rest,
      device: { deviceId: device.deviceId, keyId: device.keyId, secret_b64: device.secret.toString('base64') },
    });
    const child = spawn(process.execPath, ['--import', 'tsx', 'agent/test/support-uplink/agent-process.ts', arg], {
      cwd: projectRoot(),
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        // Nothing more will be printed: fail whoever still waits.
        for (const w of this.waiters.splice(0))
          w.reject(new Error(`agent process exited (${signal ?? code}) before the expected output`));
        resolve();
      }),
    );
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    await this.waitLine((l) => l === 'ready', 30_000);
  }

  private onLine(line: string): void {
    if (line.startsWith('ok ')) this.accepted.add(line.slice(3));
    else if (line.startsWith('refused ')) {
      const [, id, code] = line.split(' ');
      this.refused.set(id!, code!);
    }
    for (const w of [...this.waiters]) {
      if (w.match(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  }

  waitLine(match: (line: string) => boolean, timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('agent process: timed out waiting for output')), timeoutMs);
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  send(line: string): void {
    this.child!.stdin!.write(line + '\n');
  }

  /** Starts enqueueing; resolves when the process reports the batch done. */
  async enqueue(count: number, thumbBytes = 0): Promise<void> {
    const done = this.waitLine((l) => l.startsWith('enqueued '), 120_000);
    this.send(`enqueue ${count} ${thumbBytes}`);
    await done;
  }

  async stats(): Promise<OutboxStats & { uplink: UplinkMetrics }> {
    const line = this.waitLine((l) => l.startsWith('stats '));
    this.send('stats');
    return JSON.parse((await line).slice(6)) as OutboxStats & { uplink: UplinkMetrics };
  }

  async kill9(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = this.waitLine((l) => l === 'stopped', 20_000).catch(() => undefined);
    this.send('stop');
    await done;
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
