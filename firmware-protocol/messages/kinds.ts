import { Ack, validateAck } from './ack.js';
import { Availability, validateAvailability } from './availability.js';
import {
  Command,
  CommandPoll,
  CommandResult,
  validateCommand,
  validateCommandPoll,
  validateCommandResult,
} from './command.js';
import { MqttEnvelopeSchema, validateMqttEnvelope } from './envelope.js';
import { ErrorBody, validateErrorBody } from './error-body.js';
import { Event, EventBatch, validateEvent, validateEventBatch } from './event.js';
import { Heartbeat, validateHeartbeat } from './heartbeat.js';
import { Review, validateReview } from './review.js';
import {
  BrokerCredentials,
  PairingRequest,
  PairingResponse,
  validateBrokerCredentials,
  validatePairingRequest,
  validatePairingResponse,
} from './pairing.js';
import { ThumbnailInfo, validateThumbnailInfo } from './thumbnail-info.js';

/** Every top-level message kind: its file name in schemas/ and examples/, schema and validator. */
export const MESSAGE_KINDS = {
  event: { schema: Event, validate: validateEvent },
  'event-batch': { schema: EventBatch, validate: validateEventBatch },
  review: { schema: Review, validate: validateReview },
  heartbeat: { schema: Heartbeat, validate: validateHeartbeat },
  'thumbnail-info': { schema: ThumbnailInfo, validate: validateThumbnailInfo },
  ack: { schema: Ack, validate: validateAck },
  availability: { schema: Availability, validate: validateAvailability },
  'pairing-request': { schema: PairingRequest, validate: validatePairingRequest },
  'pairing-response': { schema: PairingResponse, validate: validatePairingResponse },
  'broker-credentials': { schema: BrokerCredentials, validate: validateBrokerCredentials },
  error: { schema: ErrorBody, validate: validateErrorBody },
  envelope: { schema: MqttEnvelopeSchema, validate: validateMqttEnvelope },
  command: { schema: Command, validate: validateCommand },
  'command-poll': { schema: CommandPoll, validate: validateCommandPoll },
  'command-result': { schema: CommandResult, validate: validateCommandResult },
} as const;
export type MessageKind = keyof typeof MESSAGE_KINDS;
