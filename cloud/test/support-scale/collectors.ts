import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../../shared/paths/index.js';

/**
 * Real `vigil-cloud serve` processes (the built CLI, `node bin/vigil-cloud.js`) for scale-out tests and the fleet
 * benchmark: started from one config file, each with its own port and environment (e.g. its MQTT client id),
 * killed with any signal and started again on the same port. CPU time comes from /proc/<pid>/stat.
 *
 *   const c = new CollectorProcess('c1', port, '/tmp/x/cloud.yaml', { VIGIL_CLOUD__MQTT__CLIENT_ID: 'c1' });
 *   await c.start();            // resolves on "vigil-cloud listening on …"
 *   c.cpuSeconds();             // user + system time so far
 *   await c.kill('SIGKILL');
 */
const root = projectRoot();
const bin = join(root, 'bin', 'vigil-cloud.js');

let clockTicks: number | undefined;
/** Kernel clock ticks per second (the unit of utime/stime in /proc/<pid>/stat). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** utime + stime of a live process, seconds; undefined when it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; the fields after its closing parenthesis are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

export class CollectorProcess {
  private child: ChildProcess | undefined;
  private tail = '';
  /** Starts of this collector (1 after the first start). */
  starts = 0;
  /** CPU seconds of earlier incarnations (a killed process's time is lost with it; this keeps what was read). */
  private lastCpu = 0;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly configFile: string,
    private readonly env: Record<string, string> = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last few KB of its stdout and stderr, for failure messages. */
  get output(): string {
    return this.tail;
  }

  /** Spawns the process and resolves once it printed its listening line; rejects if it exits first. */
  start(timeoutMs = 30_000): Promise<void> {
    if (this.running) return Promise.reject(new Error(`${this.name} is already running`));
    const args = [bin, 'serve', '--config', this.configFile, '--port', String(this.port), '--host', '127.0.0.1'];
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    });
    this.child = child;
    this.starts++;
    const keep = (c: Buffer): void => {
      this.tail = (this.tail + c.toString()).slice(-6000);
    };
    child.stderr!.on('data', keep);
    return new Promise((resolve, reject) => {
      let seen = '';
      let ready = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${this.name} did not listen within ${timeoutMs} ms:\n${this.tail}`));
      }, timeoutMs);
      child.stdout!.on('data', (c: Buffer) => {
        keep(c);
        if (ready) return;
        seen += c.toString();
        if (seen.includes('vigil-cloud listening on ')) {
          ready = true;
          seen = '';
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code ?? signal}) before listening:\n${this.tail}`));
      });
    });
  }

  /** user + system CPU seconds of this collector, over all its incarnations so far. */
  cpuSeconds(): number {
    const pid = this.child?.pid;
    const now = pid !== undefined ? processCpuSeconds(pid) : undefined;
    return this.lastCpu + (now ?? 0);
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs` if it has not exited). */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const pid = child.pid;
    if (pid !== undefined) this.lastCpu += processCpuSeconds(pid) ?? 0;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
