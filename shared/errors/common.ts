import { defineErrors, type ErrorSpec } from './index.js';

/**
 * Registry of the codes thrown by shared/ code and both command lines, the same on either side (included by
 * cloud/errors.ts and agent/errors.ts). None has an HTTP status: they never answer a request.
 * Call sites: `new VigilError('config_invalid', message, { details })` with VigilError from this file.
 */
export const COMMON_ERRORS = {
  config_invalid: { retry: 'fix_config', message: 'the configuration is not valid' },
  config_unreadable: { retry: 'fix_config', message: 'a configuration file cannot be read' },
  invalid_argument: { retry: 'drop', message: 'a command-line argument is not valid' },
  project_root_not_found: { retry: 'fix_config', message: 'the Vigil package root cannot be found' },
} as const satisfies Record<string, ErrorSpec>;

export type CommonErrorCode = keyof typeof COMMON_ERRORS;

export class VigilError extends defineErrors(COMMON_ERRORS) {}
