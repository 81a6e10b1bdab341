import type { BrokerSetup } from '../broker/index.js';
import type { MetricsRegistry } from './metrics.js';

/** /metrics: the deployment (info), broker provisioning health, and messages from unknown devices on the group. */
export function registerBrokerMetrics(metrics: MetricsRegistry, broker: BrokerSetup): void {
  metrics.gauge('vigil_deployment_info', "This collector's deployment id and MQTT shared group (value 1).", () => {
    const d = broker.details();
    return [{ labels: { deployment_id: d.deployment_id, group: d.group ?? '' }, value: 1 }];
  });
  metrics.gauge(
    'vigil_broker_provisioner_up',
    'The broker provisioning API answers (1) or not (0); 1 for provisioner none.',
    () => [{ labels: { kind: broker.provisioner.kind }, value: broker.provisioner.health().ok ? 1 : 0 }],
  );
  if (!broker.foreign) return;
  const foreign = broker.foreign;
  metrics.gauge(
    'vigil_mqtt_unknown_device_messages_total',
    "MQTT messages on this deployment's shared group signed by devices it does not know.",
    () => [{ value: foreign.state().total_messages }],
    'counter',
  );
  metrics.gauge(
    'vigil_mqtt_foreign_traffic_suspected',
    '1 while a sustained stream of unknown-device messages suggests another deployment shares the shared group ' +
      '(see /readyz details.mqtt.foreign_traffic).',
    () => [{ value: foreign.state().suspected ? 1 : 0 }],
  );
}
