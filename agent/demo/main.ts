import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { runCli, vigilVersion } from '../../shared/cli/index.js';
import { humanCode } from '../../shared/ids/index.js';
import { VigilError } from '../errors.js';
import { assetPath, projectRoot } from '../../shared/paths/index.js';
import { writeSyntheticClip } from '../camera/synthetic.js';
import { startDemoBroker, type DemoBroker } from './broker.js';
import { killAllNow, runChild, startChild, stopChild, type Child } from './children.js';
import { eventLine } from './format.js';
import { subscribeSse } from './sse.js';

/**
 * `npm start` (bin/vigil-demo.js): the whole system on one machine with nothing set up — a collector with its
 * built-in defaults, an owner login for its web app (a generated password, printed), an app token, a paired agent
 * watching one camera, and every event printed as the collector receives it (the app's live stream). Ctrl-C stops
 * everything.
 */
interface DemoOpts {
  input?: string;
  /** --no-broker: HTTPS only, even with Mosquitto installed. */
  broker: boolean;
  model?: string | false;
  port: string;
  dataDir?: string;
  keep?: boolean;
  exitWhenDone?: boolean;
  duration: string;
}

const NODE = process.execPath;
/** The demo's owner login for the web app; the password is generated per run. */
const DEMO_OWNER = 'owner@vigil.demo';
const bin = (name: string): string => join(projectRoot(), 'bin', name);
const say = (line: string): void => void process.stdout.write(line + '\n');

function positiveInt(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new VigilError('invalid_argument', `${flag} must be an integer within ${min}..${max}, got "${text}"`, {
      details: { exitCode: 2 },
    });
  return n;
}

/**
 * Which model runs: --model PATH; --no-model none; by default the shared detector only for real footage (the synthetic
 * square is no object).
 */
function chooseModel(o: DemoOpts): string | undefined {
  if (o.model === false) return undefined;
  if (typeof o.model === 'string') {
    if (!existsSync(o.model))
      throw new VigilError('model_not_found', `--model ${o.model} does not exist`, { details: { exitCode: 2 } });
    return resolve(o.model);
  }
  const shared = assetPath('models', 'yolox_nano.onnx');
  return o.input && existsSync(shared) ? shared : undefined;
}

async function main(o: DemoOpts): Promise<number> {
  const port = positiveInt(o.port, '--port', 0, 65535);
  const durationS = positiveInt(o.duration, '--duration', 3, 3600);
  const temp = !o.dataDir;
  const dir = o.dataDir ? resolve(o.dataDir) : mkdtempSync(join(tmpdir(), 'vigil-demo-'));
  mkdirSync(dir, { recursive: true });
  const keep = !temp || o.keep === true;
  const model = chooseModel(o);
  say(
    `vigil demo ${vigilVersion()} — data in ${dir}` +
      (keep ? ' (kept)' : ' (temporary: removed at exit; --keep or --data-dir DIR to keep it)'),
  );

  let cloud: Child | undefined;
  let agent: Child | undefined;
  let broker: DemoBroker | undefined;
  let sse: { close(): void } | undefined;
  let stopping: Promise<number> | undefined;
  const shutdown = (code: number): Promise<number> =>
    (stopping ??= (async () => {
      sse?.close();
      if (agent) await stopChild(agent);
      if (cloud) await stopChild(cloud);
      if (broker) await stopChild(broker.child);
      if (!keep) rmSync(dir, { recursive: true, force: true });
      const brokerPid = broker?.child.proc.pid ? ` and broker (pid ${broker.child.proc.pid})` : '';
      const cloudPid = cloud?.proc.pid ? ` collector (pid ${cloud.proc.pid})` : '';
      const agentPid = agent?.proc.pid ? ` and agent (pid ${agent.proc.pid})` : '';
      say(`stopped${cloudPid}${agentPid}${brokerPid}`);
      return code;
    })());
  process.once('SIGINT', () => {
    say('\nCtrl-C: stopping the agent and the collector…');
    void shutdown(0).then((c) => process.exit(c));
  });
  process.once('SIGTERM', () => void shutdown(0).then((c) => process.exit(c)));
  process.once('exit', killAllNow);

  try {
    // 0. A broker, when Mosquitto is installed: the shipped config (scripts/mosquitto), provisioned by the collector.
    const started = o.broker ? await startDemoBroker(dir) : { note: 'off (--no-broker): boxes send over HTTPS' };
    broker = started.broker;
    say(`broker      ${started.note}`);

    // 1. The collector, embedded defaults (SQLite + files in <dir>/cloud), loopback only.
    const cloudDir = join(dir, 'cloud');
    const quiet = { VIGIL_CLOUD__LOG__LEVEL: 'warn', VIGIL_CLOUD_CONFIG: '' };
    const serveArgs = [
      bin('vigil-cloud.js'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--data-dir',
      cloudDir,
    ];
    if (broker) {
      // The broker's admin login stays in a 0600 file, not on a command line.
      const cloudConfig = join(dir, 'collector.yaml');
      const mqtt = {
        url: broker.url,
        provisioner: 'mosquitto-dynsec',
        admin_username: broker.admin.username,
        admin_password: broker.admin.password,
      };
      writeFileSync(
        cloudConfig,
        `# written by the Vigil demo\n${stringify({ mqtt, pairing: { mqtt_url: broker.url } })}`,
        { mode: 0o600 },
      );
      serveArgs.push('--config', cloudConfig);
    }
    const url = await new Promise<string>((resolveUrl, reject) => {
      cloud = startChild('collector', NODE, serveArgs, {
        logFile: join(dir, 'collector.log'),
        env: quiet,
        onLine: (line) => {
          const m = /^vigil-cloud listening on (\S+)/.exec(line);
          if (m?.[1]) resolveUrl(m[1]);
        },
      });
      void cloud.exited.then((code) =>
        reject(new Error(`the collector exited (code ${code}) before listening; see ${join(dir, 'collector.log')}`)),
      );
    });
    say(`collector   ${url}  (log ${join(dir, 'collector.log')})`);

    // 2. An owner login for the web app, an app token and a pairing code, as an operator would make them.
    const cli = (args: string[], input?: string): Promise<string> =>
      runChild('vigil-cloud', NODE, [bin('vigil-cloud.js'), ...args, '--data-dir', cloudDir, '--json'], quiet, input);
    // 20 characters of an unambiguous alphabet (~99 bits), in groups: easy to type on a phone.
    const password = humanCode(4, 5);
    await cli(['user', 'create', '--email', DEMO_OWNER, '--role', 'admin', '--password-stdin'], password);
    const token = (
      JSON.parse(await cli(['token', 'create', '--name', 'demo app', '--role', 'reader'])) as { token: string }
    ).token;
    const code = (JSON.parse(await cli(['pair-code', 'create', '--name', 'demo-box'])) as { code: string }).code;

    // 3. The camera: the given file/URL, else a generated scene (a square crossing the frame) written to a clip.
    let input = o.input;
    if (!input) {
      input = join(dir, 'synthetic-scene.avi');
      const motion = Math.min(4, durationS - 2);
      await writeSyntheticClip(input, { durationS, startS: 1, endS: 1 + motion, width: 640, height: 360, fps: 10 });
    }
    const isFile = !/^[a-z][a-z0-9+.-]*:/i.test(input) && !input.startsWith('/dev/');
    const agentDir = join(dir, 'agent');
    const configFile = join(dir, 'agent.yaml');
    const camera: Record<string, unknown> = { name: 'demo', input: isFile ? resolve(input) : input };
    if (isFile) Object.assign(camera, { realtime: true, loop: !o.exitWhenDone });
    // The status endpoint on a socket in the demo folder: never collides with an installed agent's port.
    const config: Record<string, unknown> = {
      data_dir: agentDir,
      log: { level: 'warn', file: join(dir, 'agent.log') },
      status: { listen: join(dir, 'status.sock') },
      cameras: [camera],
    };
    if (model) config.model = { path: model };
    writeFileSync(configFile, `# written by the Vigil demo\n${stringify(config)}`);
    say(
      `camera      demo ← ${o.input ?? `generated scene ${input} (${durationS} s${o.exitWhenDone ? '' : ', looped'})`}`,
    );
    say(`detector    ${model ?? 'none: motion events only (--model PATH for labelled objects)'}`);

    // 4. Pair the agent with the code, then watch the live stream before the agent starts sending.
    await runChild(
      'vigil-agent pair',
      NODE,
      [bin('vigil-agent.js'), 'pair', '--cloud', url, '--code', code, '--config', configFile, '--name', 'demo-box'],
      { VIGIL_AGENT_CONFIG: '', VIGIL_DATA_DIR: '' },
    );
    say(`agent       paired (${broker ? 'over MQTT with its own broker login' : 'over HTTPS'}); config ${configFile}`);
    let received = 0;
    sse = await subscribeSse(`${url}/v1/stream`, token, (m) => {
      if (m.event !== 'event.new' && m.event !== 'event.updated') return;
      received++;
      say(eventLine(m.event, JSON.parse(m.data) as Parameters<typeof eventLine>[1], url));
    });

    say('');
    say(`app         ${url}/   (the owner's web app; open it in a browser on this machine)`);
    say(`login       ${DEMO_OWNER}   password ${password}`);
    say(`API         ${url}   token ${token}`);
    say(`try         curl -H 'Authorization: Bearer ${token}' '${url}/v1/events?limit=5'`);
    say(`            curl -N -H 'Authorization: Bearer ${token}' ${url}/v1/stream`);
    say(`status      node bin/vigil-agent.js status --config ${configFile}`);
    say(o.exitWhenDone ? 'events (the demo ends with the clip):' : 'events (Ctrl-C to stop):');

    // 5. The agent daemon.
    const runArgs = [
      bin('vigil-agent.js'),
      'run',
      '--config',
      configFile,
      ...(o.exitWhenDone ? ['--exit-when-idle'] : []),
    ];
    agent = startChild('agent', NODE, runArgs, {
      logFile: join(dir, 'agent.out'),
      env: { VIGIL_AGENT_CONFIG: '', VIGIL_DATA_DIR: '' },
    });
    const agentCode = await agent.exited;
    if (stopping) return await stopping;
    if (!o.exitWhenDone || agentCode !== 0) {
      say(`the agent exited (code ${agentCode}); see ${join(dir, 'agent.out')} and ${join(dir, 'agent.log')}`);
      return await shutdown(1);
    }
    // Everything was acked, so it is stored; give the live stream a moment to deliver the last change.
    const until = Date.now() + 5_000;
    while (received === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    say(`done: ${received} event message${received === 1 ? '' : 's'} received by the collector`);
    return await shutdown(received > 0 ? 0 : 1);
  } catch (err) {
    if (stopping) return await stopping;
    process.stderr.write(`vigil-demo: ${(err as Error).message}\n`);
    return await shutdown(1);
  }
}

const program = new Command('vigil-demo')
  .description(
    'Run a collector and a paired agent on one camera and print the events the collector receives (npm start)',
  )
  .option('--input <file|url>', 'video file or camera URL (default: a generated scene with a moving square)')
  .option('--model <path>', 'ONNX detector (default: ../shared/models/yolox_nano.onnx with --input when present)')
  .option('--no-model', 'no detector: motion events only')
  .option(
    '--no-broker',
    'send over HTTPS even when Mosquitto is installed (default: a private broker with the shipped config)',
  )
  .option('--port <n>', 'collector HTTP port (0 = any free port)', '0')
  .option('--data-dir <dir>', 'keep the demo state here (default: a temporary folder removed at exit)')
  .option('--keep', 'keep the temporary folder at exit')
  .option('--duration <seconds>', 'length of the generated scene', '9')
  .option(
    '--exit-when-done',
    'play the clip once, wait until the collector acked everything, then exit (0 when at least one event arrived)',
  )
  .action(async (o: DemoOpts) => {
    process.exit(await main(o));
  });

await runCli(program);
