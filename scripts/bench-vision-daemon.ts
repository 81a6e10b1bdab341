/**
 * The memory phase of `npm run bench:vision`: the real daemon (`vigil-agent run --exit-when-idle`, built bin/)
 * with 1, 2, 3… file cameras on the clip and the YOLOX model, paired with a local collector (`vigil-cloud serve`).
 * Polls /proc every 50 ms: the node process's peak RSS (VmHWM; ffmpeg children are separate processes and are
 * reported apart, as their summed peak RSS), its CPU time per frame, and the events the collector received per
 * camera and label (the same clip on every camera: each must give the same events).
 *
 * Stand-alone: `tsx scripts/bench-vision-daemon.ts [--root /other/checkout] [--cameras 1,2,3] [--seconds 40]
 * [--node-arg=--flag]… [--env K=V]…` measures another checkout's build (a baseline worktree) with this harness.
 * Diagnostics: BENCH_TRACE=1 prints the daemon's RSS every 200 ms; BENCH_SMAPS=file saves /proc/<pid>/smaps at 6 s.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DaemonMemoryOptions {
  /** Checkout whose bin/ and dist/ run (default: this one). */
  root: string;
  model: string;
  input: string;
  width: number;
  height: number;
  fps: number;
  /** Seconds of the clip each camera reads (ffmpeg -t). */
  seconds?: number;
  /** Extra environment of the daemon (experiments: NODE_OPTIONS, MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
  /** node flags before the script (as the systemd unit's ExecStart gives them). */
  nodeArgs?: string[];
}

export interface DaemonMemoryResult {
  cameras: number;
  /** Peak RSS of the node process, MiB (VmHWM). */
  peakRssMiB: number;
  /** Peak of the ffmpeg children's summed RSS, MiB. */
  ffmpegMiB: number;
  /** CPU time of the node process (user + system), ms, and per frame delivered across cameras. */
  cpuMs: number;
  cpuMsPerFrame: number;
  frames: number;
  wallS: number;
  /** Events per camera, as `label×count` sorted. */
  eventsByCamera: Record<string, string>;
}

const CLK_TCK = 100;

function run(root: string, bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(root, 'bin', bin), ...args], { maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${bin} ${args[0]}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

function status(pid: number): Record<string, string> | undefined {
  try {
    const out: Record<string, string> = {};
    for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    return out;
  } catch {
    return undefined;
  }
}

const kib = (v: string | undefined): number => Number.parseInt(v ?? '0', 10);

/** utime + stime of a process in ms (/proc/<pid>/stat fields 14 and 15). */
function cpuOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

interface Collector {
  url: string;
  dataDir: string;
  token: string;
  stop: () => Promise<void>;
}

async function startCollector(root: string, dataDir: string): Promise<Collector> {
  const child = spawn(
    process.execPath,
    [join(root, 'bin', 'vigil-cloud.js'), 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VIGIL_CLOUD_CONFIG: '' } },
  );
  let text = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      text += c.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(text);
      if (m?.[1]) resolve(m[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`collector exited (${code}): ${text.slice(-1000)}`)));
  });
  child.stdout.resume();
  child.stderr.resume();
  const token = (
    JSON.parse(
      await run(root, 'vigil-cloud.js', ['token', 'create', '--json', '-n', 'bench', '--data-dir', dataDir]),
    ) as {
      token: string;
    }
  ).token;
  return {
    url,
    dataDir,
    token,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function eventsOf(c: Collector): Promise<Array<{ camera: string; label: string }>> {
  const all: Array<{ camera: string; label: string }> = [];
  let cursor: string | null = null;
  do {
    const res = await fetch(`${c.url}/v1/events?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
      headers: { authorization: `Bearer ${c.token}` },
    });
    const page = (await res.json()) as { events: Array<{ camera: string; label: string }>; next_cursor: string | null };
    all.push(...page.events);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

async function runDaemon(o: DaemonMemoryOptions, c: Collector, dir: string, cameras: number) {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'agent.yaml');
  const limit = o.seconds ? `    ffmpeg: { input_args: ["-t", "${o.seconds}"] }\n` : '';
  const cams = Array.from(
    { length: cameras },
    (_, i) =>
      `  - name: cam${i + 1}\n    input: ${o.input}\n    detect: { width: ${o.width}, height: ${o.height}, fps: ` +
      `${o.fps} }\n${limit}`,
  ).join('');
  writeFileSync(
    config,
    `data_dir: ${dir}\nstatus:\n  listen: ${join(dir, 'status.sock')}\nlog:\n  level: warn\n` +
      `model:\n  path: ${o.model}\ncameras:\n${cams}`,
  );
  const code = (
    JSON.parse(await run(o.root, 'vigil-cloud.js', ['pair-code', 'create', '--json', '--data-dir', c.dataDir])) as {
      code: string;
    }
  ).code;
  await run(o.root, 'vigil-agent.js', [
    'pair',
    '--cloud',
    c.url,
    '--code',
    code,
    '--data-dir',
    dir,
    '--config',
    config,
    '--json',
  ]);
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [...(o.nodeArgs ?? []), join(o.root, 'bin', 'vigil-agent.js'), 'run', '--config', config, '--exit-when-idle'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, VIGIL_AGENT_CONFIG: '', VIGIL_DATA_DIR: '', ...o.env },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const pid = child.pid as number;
  let hwm = 0;
  let cpu = 0;
  let ffmpeg = 0;
  const trace: string[] = [];
  const sample = (): void => {
    const s = status(pid);
    if (!s) return;
    hwm = Math.max(hwm, kib(s.VmHWM));
    if (process.env.BENCH_TRACE) trace.push(`${((performance.now() - t0) / 1000).toFixed(1)}s ${kib(s.VmRSS) >> 10}`);
    cpu = cpuOf(pid) ?? cpu;
    ffmpeg = Math.max(
      ffmpeg,
      childrenOf(pid).reduce((sum, k) => sum + kib(status(k)?.VmRSS), 0),
    );
  };
  const timer = setInterval(sample, 50);
  const dump = process.env.BENCH_SMAPS
    ? setTimeout(() => writeFileSync(process.env.BENCH_SMAPS as string, readFileSync(`/proc/${pid}/smaps`)), 6000)
    : undefined;
  const exit = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearInterval(timer);
  if (dump) clearTimeout(dump);
  if (trace.length > 0) console.log(trace.filter((_, i) => i % 4 === 0).join(' | '));
  const wallS = (performance.now() - t0) / 1000;
  if (exit !== 0) throw new Error(`vigil-agent run exited ${exit}: ${stderr.slice(-2000)}`);
  return { hwm, cpu, ffmpeg, wallS };
}

/** Runs the daemon once per camera count; frames = the clip's frames at `fps` × cameras. */
export async function daemonMemory(
  o: DaemonMemoryOptions,
  counts: number[],
  framesPerCamera: number,
): Promise<DaemonMemoryResult[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'vigil-bench-daemon-'));
  const out: DaemonMemoryResult[] = [];
  try {
    for (const n of counts) {
      // A collector per run: its events are this run's only.
      const c = await startCollector(o.root, join(tmp, `cloud${n}`));
      try {
        const r = await runDaemon(o, c, join(tmp, `box${n}`), n);
        const all = await eventsOf(c);
        const eventsByCamera: Record<string, string> = {};
        for (let i = 1; i <= n; i++) {
          const byLabel = new Map<string, number>();
          for (const e of all.filter((x) => x.camera === `cam${i}`))
            byLabel.set(e.label, (byLabel.get(e.label) ?? 0) + 1);
          eventsByCamera[`cam${i}`] = [...byLabel]
            .sort()
            .map(([l, k]) => `${l}×${k}`)
            .join(' ');
        }
        out.push({
          cameras: n,
          peakRssMiB: r.hwm / 1024,
          ffmpegMiB: r.ffmpeg / 1024,
          cpuMs: r.cpu,
          cpuMsPerFrame: r.cpu / (framesPerCamera * n),
          frames: framesPerCamera * n,
          wallS: r.wallS,
          eventsByCamera,
        });
      } finally {
        await c.stop();
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

/** The node flags the systemd unit's ExecStart gives before bin/vigil-agent.js (`@NODE@ <flags> @APP_DIR@/…`). */
export function unitNodeArgs(root = join(import.meta.dirname, '..')): string[] {
  const unit = readFileSync(join(root, 'scripts', 'systemd', 'vigil-agent.service.in'), 'utf8');
  const m = /^ExecStart=@NODE@ (.*?)\s*@APP_DIR@\/bin\/vigil-agent\.js/m.exec(unit);
  return m?.[1] ? m[1].split(/\s+/) : [];
}

/** Frames ffmpeg delivers for the clip at the bench's size and rate. */
export async function countFrames(ffmpeg: string, o: DaemonMemoryOptions): Promise<number> {
  const args = ['-hide_banner', '-nostdin', ...(o.seconds ? ['-t', String(o.seconds)] : []), '-i', o.input, '-an'];
  args.push('-vf', `fps=${o.fps},scale=${o.width}:${o.height}`, '-pix_fmt', 'yuv420p', '-f', 'null', '-');
  const text = await new Promise<string>((resolve, reject) => {
    execFile(ffmpeg, args, { maxBuffer: 1 << 24 }, (err, _out, stderr) => (err ? reject(err) : resolve(stderr)));
  });
  return Number([...text.matchAll(/frame=\s*(\d+)/g)].map((m) => m[1]).pop() ?? 0);
}

export function printDaemonMemory(rows: DaemonMemoryResult[], root: string): void {
  const f1 = (v: number): string => v.toFixed(1);
  console.log(`daemon memory (vigil-agent run --exit-when-idle, ${root}):`);
  const one = rows.find((r) => r.cameras === 1);
  for (const r of rows) {
    const per =
      one && r.cameras > 1 ? ` (+${f1((r.peakRssMiB - one.peakRssMiB) / (r.cameras - 1))} MiB/extra camera)` : '';
    console.log(
      `  ${r.cameras} camera(s): peak RSS ${f1(r.peakRssMiB)} MiB${per}, ffmpeg ${f1(r.ffmpegMiB)} MiB; node CPU ` +
        `${f1(r.cpuMsPerFrame)} ms/frame (${r.frames} frames, ${f1(r.wallS)} s wall); events ` +
        Object.entries(r.eventsByCamera)
          .map(([cam, ev]) => `${cam}: ${ev || 'none'}`)
          .join('; '),
    );
  }
}

/** `tsx scripts/bench-vision-daemon.ts [--root dir] [--cameras 1,2,3] [--seconds s]` */
async function main(): Promise<void> {
  const { parseArgs } = await import('node:util');
  const { loadavg } = await import('node:os');
  const { assetPath, projectRoot } = await import('../shared/paths/index.js');
  const { resolveFfmpeg } = await import('../agent/camera/ffmpeg-path.js');
  const { values } = parseArgs({
    options: {
      root: { type: 'string', default: projectRoot() },
      cameras: { type: 'string', default: '1,2,3' },
      seconds: { type: 'string' },
      fps: { type: 'string', default: '5' },
      width: { type: 'string', default: '640' },
      height: { type: 'string', default: '360' },
      env: { type: 'string', multiple: true },
      'node-arg': { type: 'string', multiple: true },
    },
  });
  const o: DaemonMemoryOptions = {
    root: values.root as string,
    model: assetPath('models', 'yolox_nano.onnx'),
    input: assetPath('media', 'vtest.avi'),
    width: Number(values.width),
    height: Number(values.height),
    fps: Number(values.fps),
    ...(values.seconds ? { seconds: Number(values.seconds) } : {}),
    nodeArgs: values['node-arg'] ?? [],
    env: Object.fromEntries(
      (values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    ),
  };
  const frames = await countFrames(resolveFfmpeg(), o);
  console.log(
    `load average before ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  const rows = await daemonMemory(o, (values.cameras as string).split(',').map(Number), frames);
  printDaemonMemory(rows, `${o.root}, node ${o.nodeArgs?.join(' ') || '(no flags)'}`);
  console.log(
    `load average after ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
}

if (process.argv[1]?.endsWith('bench-vision-daemon.ts')) await main();
