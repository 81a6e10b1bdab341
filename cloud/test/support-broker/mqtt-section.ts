import type { DynsecBroker } from './dynsec-broker.js';

/**
 * The collector's `mqtt` config section for `broker`: provisioning through dynamic security with the broker's
 * admin.
 */
export function dynsecMqttSection(broker: DynsecBroker) {
  return {
    url: broker.url,
    provisioner: 'mosquitto-dynsec',
    admin_username: broker.admin.username,
    admin_password: broker.admin.password,
    reconnect_ms: 200,
  };
}
