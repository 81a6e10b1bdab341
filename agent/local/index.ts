/**
 * Local integrations (`local_mqtt`): the box on the owner's LAN broker — Home Assistant discovery, per-label
 * counts, events, reviews, snapshots and a detect switch per camera — independent of the cloud uplink.
 */
export { LocalMqttConfigSchema, boxNameOf, topicPrefixOf, type LocalMqttConfig } from './config.js';
export {
  LocalIntegration,
  labelKey,
  type LocalIntegrationOptions,
  type LocalIntegrationStatus,
} from './integration.js';
export { LocalTopics } from './topics.js';
export { cameraDiscovery, boxDiscovery, type DiscoveryCamera } from './discovery.js';
export { Occupancy, type CountChange } from './occupancy.js';
export { PublishQueue } from './publish-queue.js';
export { brokerLoginOptions, redactUrl, type LocalBrokerAccess } from './client.js';
