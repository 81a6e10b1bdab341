import { Type, type Static } from '@sinclair/typebox';
import { validator } from '../../shared/schema/index.js';
import { KEY_ID_PATTERN } from '../patterns.js';
import { DateTime, DeviceId, top, V, wireObject } from './common.js';

/**
 * Pairing and broker credentials: the unsigned pairing request, the response that carries the device secret (the only
 * time it crosses the wire), and the signed request for a fresh broker login.
 */

export const PairingRequest = wireObject(
  {
    v: V,
    code: Type.String({
      pattern: '^[A-Za-z0-9]{4}(?:-?[A-Za-z0-9]{4}){1,3}$',
      description:
        'One-time pairing code shown by the cloud app, e.g. K7QX-M2PD (case-insensitive; the dash is optional).',
    }),
    name: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Name the owner gives the box, e.g. garage.' }),
    ),
    hardware: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'Hardware description, e.g. rpi5-8gb.' }),
    ),
    agent_version: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Agent/firmware version.' })),
  },
  {
    ...top('pairing-request', 'PairingRequest'),
    description: 'Box → collector: `POST /v1/pair` over HTTPS only, unsigned (the one-time code is the credential).',
  },
);
export type PairingRequest = Static<typeof PairingRequest>;

const MqttCredentials = (description: string) =>
  wireObject(
    {
      username: Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'Broker username (the collector issues the device id). Client id MUST be the device id.',
      }),
      password: Type.String({ minLength: 16, maxLength: 256, description: 'Broker password, random. Never logged.' }),
    },
    { description },
  );

export const PairingResponse = wireObject(
  {
    v: V,
    device_id: DeviceId('The id the collector assigned to this box.'),
    key_id: Type.String({
      pattern: KEY_ID_PATTERN,
      description: 'Id of the issued key; sent as X-Vigil-Key-Id / envelope kid.',
    }),
    secret_b64: Type.String({
      pattern: '^[A-Za-z0-9+/]{43}=$',
      description:
        'The device secret: 32 random bytes, standard padded base64. The HMAC key is the DECODED bytes. Store it ' +
        'with owner-only permissions; never log it.',
    }),
    endpoints: wireObject(
      {
        https: Type.String({
          format: 'uri',
          pattern: '^https?://',
          description: "Base URL of the collector's HTTPS ingest, e.g. https://vigil.example.com.",
        }),
        mqtt: Type.Optional(
          Type.String({
            format: 'uri',
            pattern: '^(mqtts?|wss?)://',
            description: 'Broker URL, e.g. mqtts://mqtt.example.com:8883; absent when the deployment is HTTPS-only.',
          }),
        ),
      },
      { description: 'Where to send.' },
    ),
    topics: wireObject(
      {
        prefix: Type.String({
          pattern: '^vigil/v1/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
          description: 'Topic prefix of this device: vigil/v1/{device_id}.',
        }),
      },
      { description: 'MQTT topic layout.' },
    ),
    server_time: DateTime('Collector clock; the box sets its clock offset from it.'),
    mqtt_credentials: Type.Optional(
      MqttCredentials(
        "The box's own broker login (section 1.5), present when the deployment provisions broker access. Sent " +
          'once: store it with the secret (owner-only). Absent: connect as the deployment documents, or ask later ' +
          'with `POST /v1/devices/{device_id}/broker-credentials`.',
      ),
    ),
  },
  {
    ...top('pairing-response', 'PairingResponse'),
    description: 'Collector → box: the 200 response of `POST /v1/pair`. The only time the secret crosses the wire.',
  },
);
export type PairingResponse = Static<typeof PairingResponse>;
export type MqttCredentials = NonNullable<PairingResponse['mqtt_credentials']>;

export const BrokerCredentials = wireObject(
  {
    v: V,
    device_id: DeviceId('The device the login belongs to (the signing device).'),
    mqtt_credentials: MqttCredentials(
      'A fresh broker login for this device. Any earlier password of this device stops working.',
    ),
  },
  {
    ...top('broker-credentials', 'BrokerCredentials'),
    description:
      'Collector → box: the 200 response of the signed `POST /v1/devices/{device_id}/broker-credentials` (empty ' +
      'body), for a box that has no broker login (paired before the deployment provisioned broker access) or ' +
      'whose login the broker refuses (after a key rotation).',
  },
);
export type BrokerCredentials = Static<typeof BrokerCredentials>;

export const validatePairingRequest = validator(PairingRequest);
export const validatePairingResponse = validator(PairingResponse);
export const validateBrokerCredentials = validator(BrokerCredentials);
