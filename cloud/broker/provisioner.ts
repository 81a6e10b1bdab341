import { randomBytes } from 'node:crypto';
import type { MqttCredentials } from '../../firmware-protocol/messages.js';

/**
 * Broker access control, provisioned by the collector through the broker's own mechanism. One implementation per
 * broker API (./mosquitto-dynsec.ts for Mosquitto 2's dynamic-security plugin); `none` (./none.ts) keeps a
 * deployment without a managed broker as it was: no broker logins are issued and the broker does its own access
 * control, if any.
 *
 * Every operation is idempotent, so a retry (or two collectors doing the same thing) is harmless.
 */
export interface BrokerProvisioner {
  readonly kind: 'none' | 'mosquitto-dynsec';
  /** True when this provisioner issues broker logins to boxes. */
  readonly issuesDeviceLogins: boolean;
  /**
   * Connects to the broker's admin API and makes sure the collectors' role and login exist (never changes an
   * existing login's password: that would disconnect the other collectors using it).
   */
  start(collector: CollectorAccess): Promise<void>;
  /**
   * Gives a box a fresh broker login: creates its role and client if missing, else sets a new password (any
   * connection with the old one is closed) and enables it. Undefined when this provisioner issues none.
   */
  issueDeviceLogin(deviceId: string): Promise<MqttCredentials | undefined>;
  /** Disables the box's login and disconnects it (revocation). A box without a login is fine. */
  disableDevice(deviceId: string): Promise<void>;
  /** What /readyz shows: last admin API outcome. */
  health(): { ok: boolean; detail: string };
  close(): Promise<void>;
}

/** The collectors' own access: their login and the shared group their role may subscribe to. */
export interface CollectorAccess {
  deploymentId: string;
  group: string;
  username: string;
  password: string;
}

/** A broker password: 24 random bytes, base64url (32 characters, no padding). */
export function newBrokerPassword(): string {
  return randomBytes(24).toString('base64url');
}
