/**
 * The agent daemon (`vigil-agent run`): cameras → pipelines → EventSink → outbox → uplink, with SIGHUP reload,
 * clean SIGTERM shutdown and the local status endpoint.
 *
 *   const daemon = new Daemon({ loadConfig: () => loadCliConfig(opts), logger, version });
 *   await daemon.start();  process.on('SIGHUP', () => void daemon.reload());  await daemon.done;
 */
export { Daemon, isConfigError, type DaemonOptions, type ReloadResult } from './daemon.js';
export { CameraRunner, type CameraRunnerOptions, type CameraRunnerStatus, type RunnerPhase } from './camera-runner.js';
export { EventSink, type EventSinkCounters } from './event-sink.js';
export { createStoreAndForward, type StoreAndForwardDeps } from './store-and-forward.js';
