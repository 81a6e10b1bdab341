import { COMMAND_RESULT_MAX_BYTES } from '../../firmware-protocol/limits.js';
import { validateCommandResult, type AckItem, type CommandResult } from '../../firmware-protocol/messages.js';
import type { ResolvedIngestDeps } from './deps.js';
import { checkVersion, decodeJsonBody, wireError } from './errors.js';

/**
 * Command results (PROTOCOL.md §6.1), `POST /v1/devices/{device_id}/results` and `vigil/v1/{device_id}/results`: a
 * CommandResult signed by the box, validated here and handed to the command channel (cloud/commands implements
 * CommandResultSink), acked `{id: command_id, rev: 0, kind: 'result'}` — accepted when it ended its command,
 * duplicate when the command had already ended. A result for a command the device was never sent is rejected
 * `not_found` (final: the box drops it).
 */
export interface CommandResultSink {
  recordResult(deviceId: string, result: CommandResult): Promise<'accepted' | 'duplicate' | 'unknown'>;
}

export async function ingestResult(d: ResolvedIngestDeps, deviceId: string, body: Uint8Array): Promise<AckItem> {
  if (body.length > COMMAND_RESULT_MAX_BYTES)
    throw wireError(
      'payload_too_large',
      `result body is ${body.length} bytes; the limit is ${COMMAND_RESULT_MAX_BYTES}`,
      {
        limit: COMMAND_RESULT_MAX_BYTES,
      },
    );
  const value = decodeJsonBody(body, 'result');
  checkVersion(value, 'result');
  const result = validateCommandResult.parse(value, 'result');
  if (result.device_id !== deviceId)
    throw wireError('device_mismatch', `result /device_id is ${result.device_id}, but it is signed by ${deviceId}`);
  if (!d.results) throw wireError('not_found', 'this collector takes no command results');
  const status = await d.results.recordResult(deviceId, result);
  if (status === 'unknown')
    throw wireError('not_found', `device ${deviceId} has no command ${result.command_id}`, {
      command_id: result.command_id,
    });
  return { id: result.command_id, rev: 0, kind: 'result', status };
}
