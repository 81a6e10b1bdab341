import { Type, type Static } from '@sinclair/typebox';
import { validator } from '../../shared/schema/index.js';
import { top, wireObject } from './common.js';

/** ErrorBody: the JSON body of every HTTP error response of the collector. */

export const ErrorBody = wireObject(
  {
    error: wireObject(
      {
        code: Type.String({
          pattern: '^[a-z][a-z0-9_]{0,63}$',
          description: 'Stable snake_case error code (see the error catalogue).',
        }),
        message: Type.String({ maxLength: 2048, description: 'What is wrong and where, for humans and logs.' }),
        request_id: Type.String({
          minLength: 1,
          maxLength: 128,
          description: "Id of the request in the collector's logs.",
        }),
        details: Type.Optional(
          Type.Record(Type.String(), Type.Unknown(), {
            description:
              'Structured context, e.g. {skew_s, server_time} for timestamp_out_of_tolerance, {issues} for ' +
              'invalid_message.',
          }),
        ),
      },
      { description: 'The error.' },
    ),
  },
  {
    ...top('error', 'Error'),
    description: 'HTTP error response body (any 4xx/5xx from the collector). Content-Type application/json.',
  },
);
export type ErrorBody = Static<typeof ErrorBody>;

export const validateErrorBody = validator(ErrorBody);
