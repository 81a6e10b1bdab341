import { Type } from '@sinclair/typebox';
import { durationSetting as Duration } from '../../shared/config/index.js';

/**
 * Broker access-control keys of the collector's `mqtt:` section (spread into MqttConfigSchema, ./config.ts; what
 * cloud/broker does with them: provisioning logins, the foreign-traffic watch):
 *
 *   mqtt:
 *     url: mqtts://broker:8883
 *     provisioner: mosquitto-dynsec        # boxes get their own broker login at pairing
 *     admin_username: vigil-admin          # a login with the dynamic-security admin role
 *     admin_password: …
 */

export const BrokerConfigProperties = {
  provisioner: Type.Union([Type.Literal('none'), Type.Literal('mosquitto-dynsec')], {
    default: 'none',
    description:
      "Broker access control the collector provisions. mosquitto-dynsec: through Mosquitto 2's dynamic-security " +
      'plugin (scripts/mosquitto/): each box gets its own login at pairing, confined to its own topics, disabled ' +
      'at revocation, new password at key rotation; the collectors get their own role. none: no broker logins are ' +
      'issued (the broker must be protected otherwise).',
  }),
  admin_url: Type.Optional(
    Type.String({ minLength: 1, description: 'Broker URL for the provisioning connection; default mqtt.url.' }),
  ),
  admin_username: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Login with the dynamic-security admin role (mosquitto_ctrl dynsec init creates one). Required with ' +
        'mosquitto-dynsec.',
    }),
  ),
  admin_password: Type.Optional(
    Type.String({ minLength: 1, description: 'Password of mqtt.admin_username (never logged).' }),
  ),
  admin_timeout: Duration('5s', "How long a provisioning command waits for the broker's answer."),
  foreign_traffic: Type.Object(
    {
      window: Duration('2m', 'Window over which messages from unknown devices on the shared group are counted.'),
      min_messages: Type.Integer({
        minimum: 1,
        default: 30,
        description:
          'Messages from unknown devices within the window (spread over at least half of it) that raise the ' +
          '"another deployment shares this group" warning (log once, /metrics, /readyz).',
      }),
    },
    { default: {}, additionalProperties: false },
  ),
};
