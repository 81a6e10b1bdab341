import { claimTopic } from './group-claim.js';
import {
  TOPIC_FILTERS,
  acksTopic,
  availabilityTopic,
  commandsTopic,
  eventsTopic,
  heartbeatTopic,
  devicePrefix,
  resultsTopic,
} from '../../firmware-protocol/topics.js';

/**
 * What a box and a collector may do on the broker, as broker-neutral rules (a provisioner translates them into its
 * broker's ACL language). Rules are checked highest priority first; the first match decides. Every role ends with
 * catch-all denies, so it does not depend on the broker's default access (a broker configured to allow by default
 * still confines a box to its own topics).
 *
 * A box (role `vigil-device-{device_id}`): publishes its events, heartbeats, thumbnails, availability and command
 * results, nothing else (not its own acks or commands topics: those come only from collectors); subscribes to
 * exactly its acks topic and its commands topic.
 * A collector (role `vigil-collector-{deployment_id}`): subscribes to its deployment's shared group only (not
 * another deployment's group, not a plain subscription that would copy every message), publishes acks and commands,
 * may watch availability, and claims its group on `vigil/collectors/{group}`.
 */
export type AclAction = 'publish' | 'subscribe_literal' | 'subscribe_pattern';

export interface AclRule {
  action: AclAction;
  topic: string;
  allow: boolean;
  priority: number;
}

const ALLOW = 10;
const DENY_ALL = 0;

/**
 * Denies for everything not allowed above: plain topics, `$share/…`, `$CONTROL/…` (broker administration), `$SYS/…`.
 */
function catchAllDenies(): AclRule[] {
  const topics = ['#', '$share/#', '$CONTROL/#', '$SYS/#'];
  return topics.flatMap((topic) => [
    { action: 'publish' as const, topic, allow: false, priority: DENY_ALL },
    { action: 'subscribe_pattern' as const, topic, allow: false, priority: DENY_ALL },
  ]);
}

export function deviceRoleName(deviceId: string): string {
  return `vigil-device-${deviceId}`;
}

export function collectorRoleName(deploymentId: string): string {
  return `vigil-collector-${deploymentId}`;
}

export function deviceAcl(deviceId: string): AclRule[] {
  return [
    { action: 'publish', topic: eventsTopic(deviceId), allow: true, priority: ALLOW },
    { action: 'publish', topic: heartbeatTopic(deviceId), allow: true, priority: ALLOW },
    { action: 'publish', topic: `${devicePrefix(deviceId)}/thumbnails/+`, allow: true, priority: ALLOW },
    { action: 'publish', topic: availabilityTopic(deviceId), allow: true, priority: ALLOW },
    { action: 'publish', topic: resultsTopic(deviceId), allow: true, priority: ALLOW },
    { action: 'subscribe_literal', topic: acksTopic(deviceId), allow: true, priority: ALLOW },
    { action: 'subscribe_literal', topic: commandsTopic(deviceId), allow: true, priority: ALLOW },
    ...catchAllDenies(),
  ];
}

/** The shared-subscription filters of a group (what the collector subscribes to). */
export function sharedFilters(group: string): string[] {
  return [TOPIC_FILTERS.events, TOPIC_FILTERS.heartbeat, TOPIC_FILTERS.thumbnails, TOPIC_FILTERS.results].map(
    (f) => `$share/${group}/${f}`,
  );
}

export function collectorAcl(group: string): AclRule[] {
  return [
    ...sharedFilters(group).map((topic) => ({
      action: 'subscribe_literal' as const,
      topic,
      allow: true,
      priority: ALLOW,
    })),
    { action: 'subscribe_literal', topic: TOPIC_FILTERS.availability, allow: true, priority: ALLOW },
    { action: 'publish', topic: TOPIC_FILTERS.acks, allow: true, priority: ALLOW },
    { action: 'publish', topic: TOPIC_FILTERS.commands, allow: true, priority: ALLOW },
    // The deployment's claim on its group (./group-claim.ts): how a collision with another deployment is seen.
    { action: 'publish', topic: claimTopic(group), allow: true, priority: ALLOW },
    { action: 'subscribe_literal', topic: claimTopic(group), allow: true, priority: ALLOW },
    ...catchAllDenies(),
  ];
}
