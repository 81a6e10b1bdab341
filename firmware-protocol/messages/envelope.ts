import { Type, type Static } from '@sinclair/typebox';
import { validator } from '../../shared/schema/index.js';
import { VigilError } from '../errors.js';
import { KEY_ID_PATTERN } from '../patterns.js';
import { DeviceId, INTEGER_MAX, Sha256, top, wireObject } from './common.js';

/**
 * The MQTT signing envelope: every signed MQTT payload wraps its body in it. The shape is defined by shared/signing;
 * the schema here documents it for non-TypeScript readers and checks it (a bad envelope is `signature_malformed`).
 */

export const MqttEnvelopeSchema = wireObject(
  {
    v: Type.Literal(1, { description: 'Envelope version; 1 = signing scheme v1.' }),
    device: DeviceId('Signing device id (for acks: the device the ack is for).'),
    kid: Type.String({ pattern: KEY_ID_PATTERN, description: 'Key id used to sign.' }),
    ts: Type.Integer({ minimum: 0, maximum: INTEGER_MAX, description: 'Unix time in seconds when signed.' }),
    nonce: Type.String({
      pattern: '^[A-Za-z0-9_-]{8,64}$',
      description: 'Fresh random nonce, 8-64 chars of [A-Za-z0-9_-] (the agent uses 16 random bytes base64url).',
    }),
    sha256: Sha256('Lowercase hex SHA-256 of the body bytes (the decoded body_b64).'),
    sig: Type.String({
      pattern: '^[A-Za-z0-9+/]{43}=$',
      description: 'base64 (standard, padded) HMAC-SHA256 over the string to sign; no v1= prefix.',
    }),
    body_b64: Type.String({
      format: 'byte',
      description: 'The message body (JSON bytes or JPEG bytes), standard padded base64.',
    }),
  },
  {
    ...top('envelope', 'MqttEnvelope'),
    description:
      'Every signed MQTT payload (events, heartbeats, thumbnails, acks) is this JSON object; the message itself ' +
      'is body_b64.',
  },
);
export type MqttEnvelopeMessage = Static<typeof MqttEnvelopeSchema>;

export const validateMqttEnvelope = validator(MqttEnvelopeSchema, {
  code: 'signature_malformed',
  registry: VigilError,
});
