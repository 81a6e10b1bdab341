import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isReviewId } from '../../firmware-protocol/patterns.js';
import { describeError, VigilError } from '../../shared/errors/index.js';
import { ulid } from '../../shared/ids/index.js';
import { componentLogger, type Logger } from '../../shared/log/index.js';
import { effectiveUplinkConfig, parseListen, type AgentConfig, type LoadedAgentConfig } from '../config.js';
import { CredentialsBrokerLogin, loadCredentials, type LoadedCredentials } from '../credentials/index.js';
import type { DetectorSlot } from '../detect/detector-slot.js';
import { modelUpdateHandler } from '../commands/model-update.js';
import type { CommandHandler } from '../commands/types.js';
import { loadDetector } from '../models/load.js';
import { activeModelStatus, heartbeatModel, type ModelUpdateReport } from '../models/report.js';
import { loadClientTls } from '../uplink/https-client.js';
import type { Outbox } from '../outbox/index.js';
import { endEventsLeftOpen } from '../outbox/open-events.js';
import type { Uplink } from '../uplink/index.js';
import type { DaemonStatus } from '../status/schema.js';
import { startStatusServer, type StatusServer } from '../status/server.js';
import { outboxStatusOf } from '../status/outbox.js';
import type { Frame } from '../camera/frame.js';
import { reloadConfigHandler, snapshotHandler, statusHandler, type CommandHandlers } from '../commands/index.js';
import { CameraRunner } from './camera-runner.js';
import { CommandChannel } from './command-channel.js';
import { secureAgentDataDir } from './data-dir.js';
import { EventSink } from './event-sink.js';
import { limitNativeMemory } from './memory.js';
import { LocalIntegration } from '../local/index.js';
import { discoveryCameras } from './local-cameras.js';
import { createStoreAndForward } from './store-and-forward.js';

export interface DaemonOptions {
  /** Loads and validates the config (first at start, again at every reload). */
  loadConfig: () => LoadedAgentConfig;
  logger: Logger;
  version: string;
  /** Exit once every file/lavfi camera has ended and the outbox holds nothing to send (tests, demos). */
  exitWhenIdle?: boolean;
  /** How often the idle condition is checked (default 500 ms). */
  idleCheckMs?: number;
}

export interface ReloadResult {
  ok: boolean;
  error?: string;
  restarted: string[];
}

/** Keys whose change needs a restart of the daemon (they hold open files, connections or sockets). */
const RESTART_KEYS = ['data_dir', 'device', 'outbox', 'uplink', 'status', 'local_mqtt'] as const;

/**
 * The agent daemon: every configured camera's pipeline → one EventSink → the outbox → the uplink, plus the local
 * status endpoint. It joins the stages; each stage keeps its own job.
 *
 * Lifecycle: `start()` (credentials, outbox, uplink, detector, cameras, status), `reload()` on SIGHUP (new config
 * validated first; only changed cameras restart; the outbox is never touched), `stop()` on SIGTERM (cameras stop
 * and their open events are ended — `end_reason: agent_stop` — and written to the outbox, then the uplink stops —
 * what it had in flight stays in the outbox and is re-sent on the next start — and the outbox is closed).
 *
 * No event is left open: the outbox keeps a ledger of announced, un-ended events (outbox/open-events.ts); at start,
 * before any camera runs, every event a previous run left open (crash, kill -9, power cut) is ended through the
 * outbox with `end_reason: agent_restart`. Each start draws a new boot id, sent in every heartbeat, so the
 * collector can tell a restart too.
 */
export class Daemon {
  private config!: AgentConfig;
  private configFile: string | undefined;
  private creds!: LoadedCredentials;
  private outbox!: Outbox;
  private uplink!: Uplink;
  private sink!: EventSink;
  /** The object detector the cameras share, swappable between frames (model_update); undefined: motion only. */
  private detector: DetectorSlot | undefined;
  /** Why the persisted registry model was not loaded (the config model runs instead), and the last model_update. */
  private modelFallback: string | null = null;
  private lastModelUpdate: ModelUpdateReport | null = null;
  private modelUpdater: CommandHandler | undefined;
  private runners: CameraRunner[] = [];
  private status: StatusServer | undefined;
  /** The LAN broker integration (`local_mqtt`), when configured. */
  private local: LocalIntegration | undefined;
  /** Commands from the collector (agent/commands, wired in command-channel.ts). */
  private commands: CommandChannel | undefined;
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  /** This run's id (Heartbeat.boot_id). */
  readonly bootId = ulid();
  private stopping: Promise<void> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastReload: DaemonStatus['last_reload'] = null;
  private reloading: Promise<ReloadResult> | undefined;
  private resolveDone!: (reason: 'idle' | 'stopped') => void;
  /** Resolves when the daemon has stopped (signal or idle). */
  readonly done: Promise<'idle' | 'stopped'>;

  constructor(private readonly o: DaemonOptions) {
    this.log = componentLogger(o.logger, 'daemon');
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get statusAddress(): string | undefined {
    return this.status?.address;
  }

  async start(): Promise<void> {
    const loaded = this.o.loadConfig();
    this.config = loaded.config;
    this.configFile = loaded.file;
    const c = this.config;
    // Not paired → not_paired, pointing at `vigil-agent pair`; a readable-by-others file → credentials_insecure.
    this.creds = loadCredentials(c.data_dir, { file: c.device.credentials, insecure: 'fail' });
    const listen = parseListen(c.status.listen);
    // 0700, and what an older version left open to group/others made owner-only (one warning).
    secureAgentDataDir(c.data_dir, this.log);
    // Thumbnail files an older version wrote (thumbnails now stay in memory; their bytes are in the outbox).
    rmSync(this.thumbnailRoot, { recursive: true, force: true });

    limitNativeMemory();
    this.detector = await this.createDetector(c);
    const saf = createStoreAndForward({
      dataDir: c.data_dir,
      outbox: c.outbox,
      uplink: effectiveUplinkConfig(c, this.creds.stored.endpoints),
      identity: this.creds.identity,
      // The box's broker login lives with its credentials (and is renewed there).
      brokerLogin: (collector) =>
        new CredentialsBrokerLogin(this.creds.file, this.creds.stored, { ...collector, identity: this.creds.identity }),
      logger: componentLogger(this.o.logger, 'uplink'),
      version: this.o.version,
      cameras: () => this.runners.map((r) => r.heartbeat()),
      bootId: this.bootId,
      model: () => heartbeatModel(this.detector),
    });
    this.outbox = saf.outbox;
    this.uplink = saf.uplink;
    // Before the uplink connects: MQTT hands commands over as soon as it is subscribed.
    this.commands = new CommandChannel({
      ...saf,
      identity: this.creds.identity,
      handlers: this.commandHandlers(),
      logger: componentLogger(this.o.logger, 'commands'),
    });
    // Before any camera runs: every ledger row is an event of a run that is gone.
    const leftOpen = endEventsLeftOpen(this.outbox, componentLogger(this.o.logger, 'outbox'));
    this.sink = new EventSink(this.creds.identity.deviceId, this.uplink, componentLogger(this.o.logger, 'outbox'));
    try {
      this.status = await startStatusServer(listen, () => this.snapshot());
    } catch (err) {
      this.outbox.close();
      await this.detector?.close();
      throw err;
    }
    await this.uplink.start();
    this.commands.start();
    this.local = this.createLocal(c);
    this.local?.start();
    this.runners = c.cameras.map((cam) => this.makeRunner(cam));
    for (const r of this.runners) r.start();
    this.log.info(
      {
        device_id: this.creds.identity.deviceId,
        boot_id: this.bootId,
        ended_left_open: leftOpen.ended.filter((id) => !isReviewId(id)).length,
        reviews_ended_left_open: leftOpen.ended.filter((id) => isReviewId(id)).length,
        cameras: c.cameras.map((x) => x.name),
        mode: this.detector ? 'objects' : 'motion',
        status: this.status.address,
        transport: this.uplink.status().transport,
        outbox_depth: this.outbox.depth(),
        config_file: this.configFile ?? null,
      },
      'vigil-agent started',
    );
    if (this.o.exitWhenIdle) this.watchIdle();
  }

  /**
   * The command handlers by kind (agent/commands). A kind without a handler is refused (`command_unknown`); a
   * handler may also be added later with `this.commands.register(kind, handler)`.
   */
  private commandHandlers(): CommandHandlers {
    const handlers: CommandHandlers = {
      snapshot: snapshotHandler({
        cameras: () => this.runners.map((r) => r.name),
        latestFrame: (camera) => this.latestFrame(camera),
      }),
      status: statusHandler(() => this.snapshot()),
      reload_config: reloadConfigHandler(() => this.reload()),
    };
    // ---- model_update: the agent-models handler (agent/commands/model-update.ts)
    handlers.model_update = this.modelUpdateHandler;
    // ---- end of model_update
    return handlers;
  }

  /**
   * The current frame of a camera (`camera` given), or the newest current frame of any camera (for a model's
   * warm-up). Undefined when there is none (no camera running, or none has read a frame yet).
   */
  latestFrame(camera?: string): Frame | undefined {
    let newest: Frame | undefined;
    for (const r of this.runners) {
      if (camera !== undefined && r.name !== camera) continue;
      const f = r.latestFrame();
      if (f && (!newest || f.wallMs > newest.wallMs)) newest = f;
    }
    return newest;
  }

  private get thumbnailRoot(): string {
    return join(this.config.data_dir, 'thumbnails');
  }

  /** The registry model of the last model_update (models/active.json), else the config's; none: motion only. */
  private async createDetector(c: AgentConfig): Promise<DetectorSlot | undefined> {
    if (!c.model) return undefined;
    const loaded = await loadDetector({ config: c.model, dataDir: c.data_dir, logger: this.o.logger });
    this.modelFallback = loaded.fallback;
    return loaded.slot;
  }

  /**
   * The `model_update` command handler (agent/commands/model-update.ts), made once: it downloads from the collector
   * this box is paired with, warms up on the newest frame of any camera and swaps the cameras' detector slot.
   */
  get modelUpdateHandler(): CommandHandler {
    this.modelUpdater ??= modelUpdateHandler({
      dataDir: this.config.data_dir,
      slot: () => this.detector,
      modelConfig: () => this.config.model,
      baseUrl:
        effectiveUplinkConfig(this.config, this.creds.stored.endpoints).https_url ?? this.creds.stored.endpoints.https,
      tls: loadClientTls(effectiveUplinkConfig(this.config, this.creds.stored.endpoints)),
      latestFrame: () => this.latestFrame(),
      onFinished: (report) => (this.lastModelUpdate = report),
      logger: componentLogger(this.o.logger, 'models'),
    });
    return this.modelUpdater;
  }

  /** The local integration: fed after the cloud sink, never awaited on the network (its own bounded queue). */
  private createLocal(c: AgentConfig): LocalIntegration | undefined {
    if (!c.local_mqtt) return undefined;
    return new LocalIntegration({
      config: c.local_mqtt,
      version: this.o.version,
      cameras: discoveryCameras(c.cameras, this.detector !== undefined),
      logger: componentLogger(this.o.logger, 'local-mqtt'),
      stateFile: join(c.data_dir, 'local-mqtt.json'),
      diagnostics: () => ({ outbox_depth: this.outbox.depth(), uplink: this.snapshot().uplink.state }),
    });
  }

  private makeRunner(cam: AgentConfig['cameras'][number]): CameraRunner {
    const local = this.local;
    return new CameraRunner({
      config: cam,
      detector: this.detector,
      modelCacheDir: join(this.config.data_dir, 'models'),
      onEvent: local
        ? async (msg, pictures) => {
            await this.sink.onEvent(msg, pictures);
            local.onEvent(msg, pictures);
          }
        : this.sink.onEvent,
      onReview: local
        ? async (msg) => {
            await this.sink.onReview(msg);
            local.onReview(msg);
          }
        : this.sink.onReview,
      ...(local ? { detecting: () => local.detectEnabled(cam.name) } : {}),
      logger: this.o.logger,
    });
  }

  /**
   * SIGHUP: reads and validates the config again. On error the running config stays and the error is logged.
   * Cameras whose settings changed (or all, when the model changed) restart — their open events are ended first;
   * others keep running untouched. Outbox, uplink and status settings need a restart (logged).
   */
  reload(): Promise<ReloadResult> {
    this.reloading ??= this.doReload().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async doReload(): Promise<ReloadResult> {
    if (this.stopping) return { ok: false, error: 'stopping', restarted: [] };
    let next: AgentConfig;
    try {
      const loaded = this.o.loadConfig();
      next = loaded.config;
      parseListen(next.status.listen);
    } catch (err) {
      const error = describeError(err);
      this.log.error({ err: error }, 'config reload failed; keeping the running config');
      this.lastReload = { at: new Date().toISOString(), ok: false, error, restarted_cameras: [] };
      return { ok: false, error, restarted: [] };
    }
    const prev = this.config;
    for (const key of RESTART_KEYS) {
      if (JSON.stringify(prev[key]) !== JSON.stringify(next[key]))
        this.log.warn({ key }, `config reload: ${key} changed; restart the daemon to apply it`);
    }
    // Everything else is applied: a restart-only section keeps its running value.
    const applied: AgentConfig = {
      ...next,
      data_dir: prev.data_dir,
      device: prev.device,
      outbox: prev.outbox,
      uplink: prev.uplink,
      status: prev.status,
      ...(prev.local_mqtt ? { local_mqtt: prev.local_mqtt } : { local_mqtt: undefined }),
    };
    if (applied.log.level !== prev.log.level) this.o.logger.level = applied.log.level;

    const modelChanged = JSON.stringify(prev.model ?? null) !== JSON.stringify(applied.model ?? null);
    let detector = this.detector;
    if (modelChanged) {
      try {
        detector = await this.createDetector(applied);
      } catch (err) {
        const error = describeError(err);
        this.log.error({ err: error }, 'config reload failed: cannot load the new model; keeping the running config');
        this.lastReload = { at: new Date().toISOString(), ok: false, error, restarted_cameras: [] };
        return { ok: false, error, restarted: [] };
      }
    }
    const old = new Map(this.runners.map((r) => [r.name, r]));
    const keep = new Set<string>();
    for (const cam of applied.cameras) {
      const r = old.get(cam.name);
      if (r && !modelChanged && JSON.stringify(r.config) === JSON.stringify(cam)) keep.add(cam.name);
    }
    const stopped = this.runners.filter((r) => !keep.has(r.name));
    await Promise.all(stopped.map((r) => r.stop()));
    if (modelChanged) {
      await this.detector?.close();
      this.detector = detector;
    }
    this.config = applied;
    const restarted: string[] = [];
    this.runners = applied.cameras.map((cam) => {
      const r = old.get(cam.name);
      if (r && keep.has(cam.name)) return r;
      restarted.push(cam.name);
      const fresh = this.makeRunner(cam);
      fresh.start();
      return fresh;
    });
    const removed = stopped.map((r) => r.name).filter((n) => !applied.cameras.some((c) => c.name === n));
    // Removed cameras lose their Home Assistant entities; new ones are announced.
    this.local?.setCameras(discoveryCameras(applied.cameras, this.detector !== undefined));
    this.lastReload = { at: new Date().toISOString(), ok: true, error: null, restarted_cameras: restarted };
    this.log.info(
      { restarted, removed, kept: [...keep], model_changed: modelChanged, outbox_depth: this.outbox.depth() },
      'config reloaded',
    );
    return { ok: true, restarted };
  }

  /** File/lavfi cameras have all ended and nothing is waiting to be sent or acked. */
  private isIdle(): boolean {
    const finite = this.runners.filter((r) => r.config.enabled && r.finite);
    if (finite.length === 0 || !finite.every((r) => r.ended)) return false;
    const t = this.outbox.stats().total;
    return t.pending === 0 && t.in_flight === 0;
  }

  private watchIdle(): void {
    if (!this.runners.some((r) => r.config.enabled && r.finite)) {
      this.log.warn('exit when idle: no file or lavfi camera that ends is configured; running until stopped');
      return;
    }
    this.idleTimer = setInterval(() => {
      if (this.stopping || !this.isIdle()) return;
      const dead = this.outbox.stats().total.dead;
      this.log.info({ dead }, 'every file camera ended and the outbox is drained: stopping');
      void this.stop('idle');
    }, this.o.idleCheckMs ?? 500);
    this.idleTimer.unref();
  }

  /** Stops everything in order; safe to call more than once. */
  stop(reason: 'idle' | 'stopped' = 'stopped'): Promise<void> {
    this.stopping ??= this.doStop().then(() => this.resolveDone(reason));
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.log.info({ cameras: this.runners.length }, 'stopping: ending open events');
    await this.reloading?.catch(() => undefined);
    // Cameras first: their open events end and are written to the outbox.
    await Promise.all(this.runners.map((r) => r.stop()));
    // The cameras' last messages go to the LAN broker (briefly: it never holds up the stop), then offline.
    await this.local?.stop();
    await this.uplink?.stop();
    // After the transport closed (no command comes any more); results of commands still running are queued.
    await this.commands?.stop();
    const s = this.outbox?.stats();
    this.outbox?.close();
    await this.detector?.close();
    await this.status?.close();
    this.log.info({ outbox_depth: s?.depth, accepted: this.sink?.counters.accepted }, 'vigil-agent stopped');
  }

  snapshot(): DaemonStatus {
    const o = this.outbox.stats();
    const u = this.uplink.status();
    const m = this.uplink.metrics;
    const effective = effectiveUplinkConfig(this.config, this.creds.stored.endpoints);
    const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
    return {
      v: 1,
      version: this.o.version,
      pid: process.pid,
      device_id: this.creds.identity.deviceId,
      started_at: new Date(this.startedAt).toISOString(),
      uptime_s: (Date.now() - this.startedAt) / 1000,
      config_file: this.configFile ?? null,
      data_dir: this.config.data_dir,
      mode: this.detector ? 'objects' : 'motion',
      model: this.detector?.model.path ?? null,
      active_model: activeModelStatus(this.detector, this.modelFallback, this.lastModelUpdate),
      stopping: this.stopping !== undefined,
      last_reload: this.lastReload,
      cameras: this.runners.map((r) => r.status()),
      outbox: outboxStatusOf(o, this.sink.counters),
      uplink: {
        state: !u.running ? 'stopped' : u.pausedUntilMs !== null ? 'paused' : u.connected ? 'connected' : 'connecting',
        transport: u.transport,
        url: (u.transport === 'mqtt' ? effective.mqtt_url : effective.https_url) ?? null,
        last_ack_at: iso(u.lastAckAtMs),
        clock_offset_ms: u.clockOffsetMs,
        consecutive_failures: u.consecutiveFailures,
        paused_until: iso(u.pausedUntilMs),
        acked: m.acked,
        events_sent: m.eventsSent,
        thumbnails_sent: m.thumbnailsSent,
        heartbeats_sent: m.heartbeatsSent,
        failures: m.failures,
      },
      ...(this.local ? { local_mqtt: this.local.status() } : {}),
      ...(this.commands ? { commands: this.commands.counters() } : {}),
    };
  }
}

/** Errors that mean "fix the configuration" (exit 78, EX_CONFIG: systemd should not restart in a loop). */
export function isConfigError(err: unknown): boolean {
  return (
    err instanceof VigilError &&
    [
      'config_invalid',
      'not_paired',
      'credentials_invalid',
      'credentials_insecure',
      'model_not_found',
      'model_invalid',
    ].includes(err.code)
  );
}
