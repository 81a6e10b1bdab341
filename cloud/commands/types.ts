import type { CommandResult } from '../../firmware-protocol/messages.js';

/**
 * A command as the collector keeps it (table device_commands): queued when issued, delivered once handed to the
 * box's transport (published to its commands topic, or returned by its long-poll), then done/failed from the box's
 * CommandResult (`refused` results end `failed` with the box's code), or expired (`device_offline`) when its
 * expiry passes without a result.
 */
export type CommandState = 'queued' | 'delivered' | 'done' | 'failed' | 'expired';

export interface CommandRecord {
  id: string;
  tenantId: string;
  deviceId: string;
  kind: string;
  args: Record<string, unknown>;
  state: CommandState;
  createdAt: number;
  expiresAt: number;
  deliveredAt: number | null;
  finishedAt: number | null;
  /** The box's result message (snapshot JPEG taken out of it and kept as a blob). */
  result: CommandResult | null;
  /** Why it failed/expired: the box's code, or `device_offline`. */
  code: string | null;
  message: string | null;
}

export interface IssueCommand {
  tenantId: string;
  deviceId: string;
  kind: string;
  args: Record<string, unknown>;
  /** Time to live; default the config's commands.ttl, at most commands.max_ttl. */
  ttlMs?: number;
  /** Who asked (token id or user), for the log. */
  issuedBy?: string;
}

/**
 * The collector's command channel as the other stages see it (the model rollout issues model_update commands
 * through it and follows their end).
 */
export interface CommandService {
  /** Stores and sends a command. Throws VigilError device_unknown (404), rate_limited (429), invalid_request (400). */
  issue(input: IssueCommand): Promise<CommandRecord>;
  get(tenantId: string, deviceId: string, id: string): Promise<CommandRecord | undefined>;
  /** Called once when a command ends (done, failed, expired), after its state was stored. */
  onFinished(listener: (record: CommandRecord) => void | Promise<void>): void;
}
