import type { FastifyInstance } from 'fastify';
import { parseHttpSignature, sha256Hex } from '../../shared/signing/index.js';
import { COMMANDS_POLL_WAIT_DEFAULT_S, COMMANDS_POLL_WAIT_MAX_S, HTTP_PATHS } from '../../firmware-protocol/http.js';
import type { CommandPoll } from '../../firmware-protocol/messages.js';
import { VigilError } from '../errors.js';
import type { DeviceRateLimiter } from '../ingest/rate-limit.js';
import type { DeviceVerifier } from '../verify/index.js';
import type { CommandChannel } from './service.js';

/**
 * `GET /v1/devices/{device_id}/commands?wait=25` (PROTOCOL.md §6.1), the long-poll of a box on HTTPS only: signed
 * like every device request (empty body; the query is part of the signed path), checked by ingest's verifier and
 * rate limit. Answers 200 CommandPoll `{v: 1, commands: [envelope, …]}` as soon as commands wait for the box (each
 * a Command in the MQTT envelope signed with the box's key, path `vigil/v1/{device_id}/commands`), else an empty
 * list after `wait` seconds (0-30, default 25); at once, empty, when the collector shuts down. Errors: 400
 * invalid_message (wait), 401/403 signature errors, 403 device_mismatch (the path names another device), 413 a
 * body, 429 rate_limited.
 */

export interface PollRouteDeps {
  verifier: DeviceVerifier;
  limiter: DeviceRateLimiter;
  channel: CommandChannel;
}

export function registerCommandPollRoute(app: FastifyInstance, d: PollRouteDeps): void {
  app.get<{ Params: { device_id: string }; Querystring: Record<string, string | undefined> }>(
    HTTP_PATHS.commands,
    async (req, reply): Promise<CommandPoll> => {
      const length = req.headers['content-length'];
      if (length !== undefined && length !== '0')
        throw new VigilError('payload_too_large', 'the long-poll has an empty body (the signature covers it)');
      const raw = req.query.wait;
      if (raw !== undefined && !/^\d{1,2}$/.test(raw))
        throw new VigilError(
          'invalid_message',
          `wait must be whole seconds 0-${COMMANDS_POLL_WAIT_MAX_S}, got "${raw.slice(0, 20)}"`,
        );
      const waitS = Math.min(raw === undefined ? COMMANDS_POLL_WAIT_DEFAULT_S : Number(raw), COMMANDS_POLL_WAIT_MAX_S);
      const device = await d.verifier.verify(
        parseHttpSignature(req.headers, req.method, req.url, sha256Hex(Buffer.alloc(0))),
        'http',
      );
      if (req.params.device_id !== device.deviceId)
        throw new VigilError(
          'device_mismatch',
          `the path names ${req.params.device_id.slice(0, 64)}, but the request is signed by ${device.deviceId}`,
        );
      const wait = d.limiter.take(device.deviceId);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new VigilError('rate_limited', `too many requests from this device; retry after ${wait} s`, {
          details: { retry_after_s: wait },
        });
      }
      // The box hanging up ends the wait (nothing is marked delivered for a poll nobody reads).
      const hangUp = new AbortController();
      const onClose = (): void => hangUp.abort();
      req.raw.socket.once('close', onClose);
      try {
        const commands = await d.channel.poll(device.deviceId, waitS * 1000, hangUp.signal);
        return { v: 1, commands };
      } finally {
        req.raw.socket.off('close', onClose);
      }
    },
  );
}
