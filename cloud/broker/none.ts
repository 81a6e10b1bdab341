import type { BrokerProvisioner } from './provisioner.js';

/** `mqtt.provisioner: none`: the collector manages nothing on the broker and issues no broker logins. */
export class NoProvisioner implements BrokerProvisioner {
  readonly kind = 'none' as const;
  readonly issuesDeviceLogins = false;

  async start(): Promise<void> {}

  async issueDeviceLogin(): Promise<undefined> {
    return undefined;
  }

  async disableDevice(): Promise<void> {}

  health(): { ok: boolean; detail: string } {
    return { ok: true, detail: 'not managed (mqtt.provisioner: none)' };
  }

  async close(): Promise<void> {}
}
