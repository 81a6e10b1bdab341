import { Type, type Static } from '@sinclair/typebox';
import { validator } from '../../shared/schema/index.js';
import { BATCH_MAX_EVENTS } from '../limits.js';
import { DateTime, INTEGER_MAX, top, V, wireObject } from './common.js';

/**
 * Ack: the collector's end-to-end receipt naming the fate of each item (event message, review message, thumbnail,
 * heartbeat).
 */

export const ACK_KINDS = ['event', 'review', 'thumbnail', 'heartbeat', 'result'] as const;
export const ACK_STATUSES = ['accepted', 'duplicate', 'rejected'] as const;
export type AckKind = (typeof ACK_KINDS)[number];
export type AckStatus = (typeof ACK_STATUSES)[number];

export const AckItem = wireObject(
  {
    id: Type.String({
      minLength: 1,
      maxLength: 64,
      description:
        'What is acked: the event id for kind event and thumbnail; the review item id for kind review; the ' +
        "heartbeat's `sent_at` for kind heartbeat; the command id for kind result (a CommandResult).",
    }),
    rev: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description: "The message's rev for kind event and review; 0 for thumbnail, heartbeat and result.",
    }),
    kind: Type.Union(
      ACK_KINDS.map((k) => Type.Literal(k)),
      {
        description:
          'Kind of item acked. `review` arrived with review items; a box ignores ack items of a kind it does not ' +
          'know.',
      },
    ),
    status: Type.Union(
      ACK_STATUSES.map((s) => Type.Literal(s)),
      {
        description:
          'accepted: stored now; duplicate: already stored earlier (identical) — also final; rejected: will never ' +
          'be accepted as sent (see code). After accepted or duplicate the box deletes the item from its outbox; ' +
          'after rejected it moves it to its dead-letter store.',
      },
    ),
    code: Type.Optional(
      Type.String({
        pattern: '^[a-z][a-z0-9_]{0,63}$',
        description: 'Wire error code (see errors) when status is rejected.',
      }),
    ),
    message: Type.Optional(Type.String({ maxLength: 512, description: 'Human-readable reason, for logs only.' })),
  },
  { description: 'The fate of one item.' },
);
export type AckItem = Static<typeof AckItem>;

export const Ack = wireObject(
  {
    v: V,
    acks: Type.Array(AckItem, {
      maxItems: BATCH_MAX_EVENTS,
      description: 'One entry per item of the request/message being acked (empty only when nothing was acked).',
    }),
    server_time: DateTime('Collector clock when the ack was made; the box may use it to correct its clock offset.'),
  },
  {
    ...top('ack', 'Ack'),
    description:
      'Collector → device: the end-to-end receipt. HTTP: the 200 response body of an ingest request. MQTT: ' +
      'published at QoS 1 on `vigil/v1/{device_id}/acks` inside the signed envelope, signed by the collector with ' +
      "the device's own secret (method MQTT, path = the ack topic) so the device can reject forged acks. A broker " +
      'PUBACK is NOT delivery; only an ack naming the item is.',
  },
);
export type Ack = Static<typeof Ack>;

export const validateAck = validator(Ack);
