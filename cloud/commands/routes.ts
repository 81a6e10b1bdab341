import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../shared/clock/index.js';
import { isVigilError } from '../../shared/errors/index.js';
import { COMMAND_ARGS_MAX_PROPERTIES } from '../../firmware-protocol/limits.js';
import { COMMAND_ID_PATTERN, COMMAND_KIND_PATTERN } from '../../firmware-protocol/patterns.js';
import { authOf, requireToken } from '../auth/request.js';
import { VigilError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { StoredCommand } from './repository.js';
import type { CommandChannel } from './service.js';
import { DURATION_PATTERN } from '../../shared/config/index.js';

/**
 * The app API of commands (admin issues, readers follow):
 *   POST /v1/devices/{device_id}/commands               {kind, args?, ttl?} → 202 {id, state, expires_at}
 *   GET  /v1/devices/{device_id}/commands/{command_id}  the command: state (queued, delivered, done, failed,
 *                                                       expired), `code`/`message` (the box's, or device_offline),
 *                                                       `result` (the box's CommandResult; a snapshot's JPEG
 *                                                       replaced by its sha256 and size), `error` when it did not
 *                                                       work, `snapshot_url`
 *   GET  /v1/devices/{device_id}/snapshots/{command_id} a done snapshot's JPEG; else the command's error:
 *                                                       409 command_pending, 504 device_offline (expired),
 *                                                       422 command_refused, 502 command_failed
 * Errors: 404 device_unknown (no such device in the tenant, or revoked), 429 rate_limited (commands.rate, with
 * Retry-After), 400 invalid_request (kind or args).
 */
const Id = (description: string) => Type.String({ minLength: 1, maxLength: 128, description });

const CommandParams = Type.Object({
  device_id: Id('Device id (dev_…).'),
  command_id: Type.String({ pattern: COMMAND_ID_PATTERN, description: 'Command id (cmd_…).' }),
});
type CommandParams = Static<typeof CommandParams>;
const DeviceParams = Type.Object({ device_id: Id('Device id (dev_…).') });
type DeviceParams = Static<typeof DeviceParams>;

const IssueBody = Type.Object(
  {
    kind: Type.String({
      pattern: COMMAND_KIND_PATTERN,
      description: 'snapshot, status, reload_config, model_update (a kind the box does not know is refused by it).',
    }),
    args: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        maxProperties: COMMAND_ARGS_MAX_PROPERTIES,
        description: 'Arguments of the kind: snapshot {camera, width?}; none for status and reload_config.',
      }),
    ),
    ttl: Type.Optional(
      Type.String({
        pattern: DURATION_PATTERN,
        description: 'How long the command waits for the box (default commands.ttl, at most commands.max_ttl).',
      }),
    ),
  },
  { additionalProperties: false },
);
type IssueBody = Static<typeof IssueBody>;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface CommandError {
  code: 'device_offline' | 'command_refused' | 'command_failed';
  /** The box's code (command_unknown, no_frame …), or device_offline. */
  reason: string | null;
  message: string;
}

/** Why a command did not work, as the API names it; null while it runs or when it is done. */
export function commandError(c: StoredCommand): CommandError | null {
  if (c.state === 'expired')
    return { code: 'device_offline', reason: c.code, message: c.message ?? 'the box sent no result in time' };
  if (c.state !== 'failed') return null;
  const refused = c.result?.status === 'refused';
  return {
    code: refused ? 'command_refused' : 'command_failed',
    reason: c.code,
    message: c.message ?? (refused ? 'the box refused the command' : 'the command failed on the box'),
  };
}

export function commandView(c: StoredCommand): Record<string, unknown> {
  return {
    id: c.id,
    device_id: c.deviceId,
    kind: c.kind,
    args: c.args,
    state: c.state,
    created_at: iso(c.createdAt),
    expires_at: iso(c.expiresAt),
    delivered_at: iso(c.deliveredAt),
    finished_at: iso(c.finishedAt),
    code: c.code,
    message: c.message,
    result: c.result,
    error: commandError(c),
    snapshot_url: c.snapshot ? `/v1/devices/${c.deviceId}/snapshots/${c.id}` : null,
  };
}

export function registerCommandRoutes(app: FastifyInstance, d: { channel: CommandChannel; store: Store }): void {
  const reader = requireToken(d.store, 'reader');
  const admin = requireToken(d.store, 'admin');

  app.post<{ Params: DeviceParams; Body: IssueBody }>(
    '/v1/devices/:device_id/commands',
    { schema: { params: DeviceParams, body: IssueBody }, onRequest: admin },
    async (req, reply) => {
      const auth = authOf(req);
      try {
        const c = await d.channel.issue({
          tenantId: auth.tenantId,
          deviceId: req.params.device_id,
          kind: req.body.kind,
          args: req.body.args ?? {},
          ...(req.body.ttl !== undefined ? { ttlMs: parseDuration(req.body.ttl) } : {}),
          issuedBy: auth.tokenId,
        });
        return reply
          .status(202)
          .header('location', `/v1/devices/${c.deviceId}/commands/${c.id}`)
          .send({ id: c.id, state: c.state, expires_at: iso(c.expiresAt) });
      } catch (err) {
        if (isVigilError(err, 'rate_limited'))
          reply.header(
            'retry-after',
            String((err.details as { retry_after_s?: number } | undefined)?.retry_after_s ?? 1),
          );
        throw err;
      }
    },
  );

  const find = async (tenantId: string, p: CommandParams): Promise<StoredCommand> => {
    const c = await d.channel.get(tenantId, p.device_id, p.command_id);
    if (!c) throw new VigilError('not_found', `device ${p.device_id} has no command ${p.command_id}`);
    return c;
  };

  app.get<{ Params: CommandParams }>(
    '/v1/devices/:device_id/commands/:command_id',
    { schema: { params: CommandParams }, onRequest: reader },
    async (req) => commandView(await find(authOf(req).tenantId, req.params)),
  );

  app.get<{ Params: CommandParams }>(
    '/v1/devices/:device_id/snapshots/:command_id',
    { schema: { params: CommandParams }, onRequest: reader },
    async (req, reply) => {
      const c = await find(authOf(req).tenantId, req.params);
      const error = commandError(c);
      if (error)
        throw new VigilError(error.code, `${c.id}: ${error.message}`, {
          details: { command_id: c.id, reason: error.reason },
        });
      if (c.state === 'queued' || c.state === 'delivered')
        throw new VigilError('command_pending', `${c.id} is ${c.state}; no result yet`, {
          details: { command_id: c.id, state: c.state },
        });
      const blob = await d.channel.snapshot(c);
      if (!blob) throw new VigilError('not_found', `${c.id} has no snapshot (kind ${c.kind})`);
      return reply
        .type('image/jpeg')
        .header('content-length', String(blob.size))
        .header('etag', `"${c.snapshot?.sha256}"`)
        .header('cache-control', 'private, max-age=86400, immutable')
        .send(blob.stream);
    },
  );
}
