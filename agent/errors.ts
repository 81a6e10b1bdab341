import { defineErrors, type ErrorSpec } from '../shared/errors/index.js';
import { COMMON_ERRORS } from '../shared/errors/common.js';
import { PROTOCOL_ERRORS } from '../firmware-protocol/errors.js';

/**
 * The agent's error registry: every code the edge daemon and its CLI throw, with what to do about it and a default
 * message. Agent errors never answer an HTTP request, so they carry no status (`err.status` is undefined); the
 * CLI's exit code is `details.exitCode` (shared/cli). Wire codes (the agent checks acks and talks to the collector)
 * come unchanged from firmware-protocol/errors.ts, with the catalogue's status; shared/ codes from
 * shared/errors/common.ts.
 *
 * How call sites use it:
 *
 *   import { VigilError } from '../errors.js';            // this file, never shared/errors/index.js
 *   throw new VigilError('outbox_full', `outbox ${path} is full …`, { details: { path } });
 *
 * A new code is added here first (snake_case, never reworded once released); an unknown code is a type error. An
 * error the collector reported keeps its own code: `VigilError.received(code, message, httpStatus)`.
 * Test errors with `isVigilError(err, 'code')` (any registry),
 * not `instanceof`.
 */
const AGENT_ONLY = {
  // command line
  confirmation_required: { retry: 'drop', message: 'this command changes state; re-run with --yes' },
  unknown_camera: { retry: 'drop', message: 'no camera of that name is configured' },
  log_file_missing: { retry: 'fix_config', message: 'the log file does not exist' },
  journal_unavailable: { retry: 'fix_config', message: 'no log file is configured and journalctl is not available' },
  journal_failed: { retry: 'retry_later', message: 'journalctl failed' },
  // credentials and pairing
  not_paired: { retry: 'fix_config', message: 'this box is not paired' },
  already_paired: { retry: 'drop', message: 'this box is already paired' },
  credentials_invalid: { retry: 'fix_config', message: 'the credentials file is not valid' },
  credentials_insecure: { retry: 'fix_config', message: 'the credentials file is readable by others' },
  cloud_unreachable: { retry: 'retry_later', message: 'the collector cannot be reached' },
  pairing_failed: { retry: 'drop', message: 'the collector did not pair this box' },
  pairing_unverified: { retry: 'retry_later', message: 'paired, but the first signed heartbeat failed' },
  // detection model and images
  model_not_found: { retry: 'fix_config', message: 'the model file does not exist' },
  model_invalid: { retry: 'fix_config', message: 'the model file is not a loadable ONNX model' },
  model_format_unknown: { retry: 'fix_config', message: 'the model inputs or outputs have an unknown layout' },
  model_download_failed: { retry: 'retry_later', message: 'the model file could not be downloaded' },
  model_hash_mismatch: { retry: 'drop', message: 'the downloaded model does not have the announced size or SHA-256' },
  model_warmup_failed: { retry: 'drop', message: 'the model failed on a real frame' },
  model_registry_invalid: { retry: 'drop', message: 'the persisted model choice (models/active.json) is not usable' },
  image_invalid: { retry: 'drop', message: 'the image cannot be read or decoded' },
  input_invalid: { retry: 'drop', message: 'the input cannot be opened' },
  // motion
  invalid_motion_options: { retry: 'fix_config', message: 'the motion options are not valid' },
  motion_model_load_failed: { retry: 'fix_config', message: 'the motion model cannot be loaded' },
  motion_model_write_failed: { retry: 'retry_later', message: 'the motion model cannot be written to its cache' },
  motion_model_output_missing: { retry: 'drop', message: 'the motion model returned no output' },
  motion_closed: { retry: 'drop', message: 'the motion detector is closed' },
  motion_frame_size_mismatch: { retry: 'drop', message: 'the frame has another size than the detector' },
  // cameras and ffmpeg
  ffmpeg_not_found: { retry: 'fix_config', message: 'ffmpeg not found' },
  camera_input_not_found: { retry: 'fix_config', message: 'the camera input does not exist' },
  camera_unreachable: { retry: 'retry_later', message: 'the camera cannot be reached' },
  camera_ffmpeg_failed: { retry: 'retry_later', message: 'ffmpeg could not read the camera' },
  camera_timeout: { retry: 'retry_later', message: 'no frame within the timeout' },
  camera_no_frames: { retry: 'drop', message: 'the input ended before its first frame' },
  camera_stalled: { retry: 'retry_later', message: 'the camera stopped delivering frames' },
  synthetic_clip_failed: { retry: 'drop', message: 'the synthetic clip cannot be written' },
  // outbox
  invalid_event: { retry: 'drop', message: 'not an event the outbox can hold' },
  event_too_large: { retry: 'drop', message: 'the event is larger than the protocol allows' },
  thumbnail_too_large: { retry: 'drop', message: 'the thumbnail is larger than the protocol allows' },
  outbox_conflict: { retry: 'drop', message: 'the outbox holds this rev with different content' },
  outbox_full: { retry: 'retry_later', message: 'the outbox budget is full of items that cannot be evicted' },
  outbox_disk_full: { retry: 'retry_later', message: 'the disk holding the outbox is full' },
  outbox_readonly: { retry: 'drop', message: 'the outbox was opened read-only' },
  outbox_corrupt: { retry: 'fix_config', message: 'the outbox file is corrupt' },
  outbox_foreign: { retry: 'fix_config', message: 'the file is not a Vigil outbox' },
  outbox_missing: { retry: 'fix_config', message: 'there is no outbox file' },
  outbox_too_new: { retry: 'fix_config', message: 'the outbox has a newer schema than this agent knows' },
  result_too_large: { retry: 'drop', message: 'the command result is larger than the protocol allows' },
  // status endpoint
  status_in_use: { retry: 'fix_config', message: 'another process answers on the status address' },
  status_listen_failed: { retry: 'fix_config', message: 'cannot listen on the status address' },
  status_failed: { retry: 'retry_later', message: 'the daemon status request failed' },
  status_invalid: { retry: 'drop', message: 'the answer is not a vigil-agent status' },
  status_timeout: { retry: 'retry_later', message: 'the daemon did not answer in time' },
  daemon_not_running: { retry: 'fix_config', message: 'no vigil-agent daemon answers' },
} as const satisfies Record<string, ErrorSpec>;

export const AGENT_ERRORS = { ...PROTOCOL_ERRORS, ...COMMON_ERRORS, ...AGENT_ONLY };

export type AgentErrorCode = keyof typeof AGENT_ERRORS;

/** The agent's VigilError: `new VigilError(code, message?, { details, cause })`; agent-only codes have no status. */
export class VigilError extends defineErrors(AGENT_ERRORS) {}

export { describeError, isVigilError } from '../shared/errors/index.js';
