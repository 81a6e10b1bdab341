import type { Clock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { BlobStore } from '../blob/blob-store.js';
import type { SqlDatabase } from '../db/index.js';
import type { Store } from '../store/store.js';
import type { CommandsConfig } from './config.js';
import type { DeviceKeys } from './envelope.js';
import { SqlCommandRepository } from './repository.js';
import { CommandChannel } from './service.js';

/**
 * cloud/commands — commands from the collector to boxes (PROTOCOL.md §6.1): the `device_commands` table, the
 * CommandService (./types.ts) other stages use (the model rollout), delivery over MQTT and the signed long-poll,
 * results from ingest, the expiry sweeper, the app API routes and the long-poll route.
 *
 *   const commands = createCommands({ database, store, blobs, keys, config: config.commands, clock, log });
 *   commands.start();                          // expiry sweeper
 *   commands.attachMqtt(publisher);            // once MQTT ingest runs
 *   await commands.issue({ tenantId, deviceId, kind: 'status', args: {} });
 */
export { CommandChannel, type CommandPublisher } from './service.js';
export { CommandsConfigSchema, commandsConfig, type CommandsConfig } from './config.js';
export { SqlCommandRepository, type StoredCommand } from './repository.js';
export { registerCommandRoutes, commandView } from './routes.js';
export { registerCommandPollRoute } from './poll-route.js';
export type { CommandRecord, CommandService, CommandState, IssueCommand } from './types.js';

export interface CreateCommandsOptions {
  database: SqlDatabase;
  store: Pick<Store, 'getDevice'>;
  blobs: BlobStore;
  keys: DeviceKeys;
  config: CommandsConfig;
  clock: Clock;
  log: Logger;
}

export function createCommands(o: CreateCommandsOptions): CommandChannel {
  return new CommandChannel({
    repo: new SqlCommandRepository(o.database),
    store: o.store,
    keys: o.keys,
    blobs: o.blobs,
    config: o.config,
    clock: o.clock,
    log: o.log,
  });
}
