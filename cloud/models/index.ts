import type { FastifyInstance } from 'fastify';
import { parseDuration, type Clock } from '../../shared/clock/index.js';
import { componentLogger, type Logger } from '../../shared/log/index.js';
import type { BlobStore } from '../blob/blob-store.js';
import type { CommandService } from '../commands/types.js';
import type { SqlDatabase } from '../db/sql.js';
import type { Store } from '../store/store.js';
import type { ModelsConfig } from './config.js';
import { deriveModelLinkKey, ModelLinks } from './links.js';
import { ModelRegistry } from './registry.js';
import { ModelRepository } from './repository.js';
import { ModelRollouts } from './rollout.js';
import { registerModelRoutes } from './routes.js';

/**
 * The model registry (cloud/models), built once by the server: registry (two-phase upload, finalize, signed
 * download), rollouts over the command channel, the heartbeat hook that keeps each box's reported model, and the
 * routes. `useCommands` wires the command channel when the server has one.
 */
export interface ModelsOptions {
  database: SqlDatabase;
  store: Store;
  blobs: BlobStore;
  secretsKey: Buffer;
  config: ModelsConfig;
  clock: Clock;
  log: Logger;
  /** The command channel; may also be given later through `useCommands`. */
  commands?: CommandService | undefined;
}

export interface Models {
  registry: ModelRegistry;
  rollouts: ModelRollouts;
  /** Issue rollouts through this channel and follow their commands' ends. */
  useCommands(commands: CommandService): void;
  /** Call for each stored heartbeat: keeps the box's `model` report. */
  recordHeartbeat(deviceId: string, heartbeat: unknown, receivedAtMs: number): Promise<void>;
  registerRoutes(app: FastifyInstance, baseUrl: () => string): Promise<void>;
}

export function createModels(o: ModelsOptions): Models {
  const log = componentLogger(o.log, 'models');
  const repo = new ModelRepository(o.database);
  const registry = new ModelRegistry({
    repo,
    blobs: o.blobs,
    links: new ModelLinks(deriveModelLinkKey(o.secretsKey)),
    config: o.config,
    clock: o.clock,
    log,
  });
  const rollouts = new ModelRollouts({
    commandTtlMs: parseDuration(o.config.command_ttl),
    repo,
    registry,
    store: o.store,
    clock: o.clock,
    log,
  });
  if (o.commands) rollouts.useCommands(o.commands);
  return {
    registry,
    rollouts,
    useCommands: (commands) => rollouts.useCommands(commands),
    recordHeartbeat: (deviceId, heartbeat, at) => rollouts.recordHeartbeat(deviceId, heartbeat, at),
    registerRoutes: (app, baseUrl) => registerModelRoutes(app, { store: o.store, registry, rollouts, baseUrl }),
  };
}

export { ModelsConfigSchema, modelsConfig, type ModelsConfig } from './config.js';
export { ModelLinks, deriveModelLinkKey } from './links.js';
export { checkOnnxModel, type ModelSignature } from './onnx-check.js';
export { rolloutBucket, type RolloutBoxState, type RolloutBoxStatus } from './rollout.js';
export type { ModelRecord, ModelState } from './repository.js';
