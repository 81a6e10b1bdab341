import { VigilError } from '../errors.js';
import type { Logger } from '../../shared/log/index.js';
import type { MqttCredentials } from '../../firmware-protocol/messages.js';
import { collectorAcl, collectorRoleName, deviceAcl, deviceRoleName, type AclRule } from './acl.js';
import { DynsecClient, type DynsecAnswer, type DynsecCommand } from './dynsec-client.js';
import { newBrokerPassword, type BrokerProvisioner, type CollectorAccess } from './provisioner.js';

/**
 * Broker access control on Mosquitto 2 with the dynamic-security plugin. Per box: a role `vigil-device-{id}` with
 * the box's ACL (./acl.ts) and a client whose username AND client id are the device id (so a box can neither
 * speak under another id nor kick a collector off by taking its client id). Per deployment: a role
 * `vigil-collector-{deployment_id}` for the collectors' login.
 *
 * Mosquitto closes a client's connections itself when its password changes or it is disabled, so a rotation or a
 * revocation takes effect at once.
 */
export interface MosquittoDynsecOptions {
  url: string;
  adminUsername: string;
  adminPassword: string;
  /** Client id of the admin connection (unique per collector). */
  clientId: string;
  timeoutMs: number;
  reconnectMs: number;
  ca?: Buffer | undefined;
  log: Logger;
}

const ACL_TYPE: Record<AclRule['action'], string> = {
  publish: 'publishClientSend',
  subscribe_literal: 'subscribeLiteral',
  subscribe_pattern: 'subscribePattern',
};

function dynsecAcls(rules: AclRule[]): Array<Record<string, unknown>> {
  return rules.map((r) => ({ acltype: ACL_TYPE[r.action], topic: r.topic, allow: r.allow, priority: r.priority }));
}

/** Roles listed (and ACL commands sent) per request when bringing box roles up to date. */
const ROLE_PAGE = 200;

interface ListedRole {
  rolename?: unknown;
  acls?: Array<{ acltype?: unknown; topic?: unknown }>;
}

/** Retry period of the collectors' role and login set-up when the broker was not there at start. */
const RETRY_MS = 5_000;

/** Answers that mean "already so": the operation is idempotent. */
const ALREADY = /already exists/i;
const NOT_FOUND = /not found/i;

function failed(what: string, answer: DynsecAnswer | undefined): VigilError {
  return new VigilError('broker_provisioning_failed', `${what}: the broker answered "${answer?.error ?? 'nothing'}"`);
}

export class MosquittoDynsecProvisioner implements BrokerProvisioner {
  readonly kind = 'mosquitto-dynsec' as const;
  readonly issuesDeviceLogins = true;
  private readonly api: DynsecClient;
  private lastFailure: string | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: MosquittoDynsecOptions) {
    this.api = new DynsecClient({
      url: o.url,
      username: o.adminUsername,
      password: o.adminPassword,
      clientId: o.clientId,
      timeoutMs: o.timeoutMs,
      reconnectMs: o.reconnectMs,
      ca: o.ca,
      log: o.log,
    });
  }

  private async run(what: string, commands: DynsecCommand[]): Promise<DynsecAnswer[]> {
    try {
      const answers = await this.api.request(commands);
      this.lastFailure = undefined;
      return answers;
    } catch (err) {
      this.lastFailure = `${what}: ${(err as Error).message}`;
      throw err;
    }
  }

  async start(collector: CollectorAccess): Promise<void> {
    try {
      await Promise.race([this.api.firstConnect, new Promise((r) => setTimeout(r, this.o.timeoutMs).unref())]);
    } catch (err) {
      await this.close();
      throw err; // a refused admin login is a configuration error
    }
    // The broker may be down at start: MQTT ingest retries its connection, and this retries until it is in place.
    const attempt = async (): Promise<void> => {
      try {
        await this.ensureCollector(collector);
        void this.upgradeDeviceRoles();
      } catch (err) {
        if (this.closed) return;
        this.o.log.error(
          { err: (err as Error).message, retry_in_ms: RETRY_MS },
          "could not set up the collectors' broker role and login yet",
        );
        this.retry = setTimeout(() => void attempt(), RETRY_MS);
        this.retry.unref();
      }
    };
    await attempt();
  }

  private async ensureCollector(c: CollectorAccess): Promise<void> {
    const role = collectorRoleName(c.deploymentId);
    const rules = collectorAcl(c.group);
    const [created] = await this.run('collector role', [
      {
        command: 'createRole',
        rolename: role,
        textname: `Vigil collectors of deployment ${c.deploymentId}`,
        acls: dynsecAcls(rules),
      },
    ]);
    if (created?.error && !ALREADY.test(created.error)) throw failed(`creating role ${role}`, created);
    if (created?.error) {
      // The role exists (another collector, an earlier start, or another group): make sure this group's rules are in.
      const answers = await this.run(
        'collector role ACLs',
        dynsecAcls(rules).map((acl) => ({ command: 'addRoleACL', rolename: role, ...acl })),
      );
      const bad = answers.find((a) => a.error && !ALREADY.test(a.error));
      if (bad) throw failed(`adding ACLs to role ${role}`, bad);
    }
    const [client] = await this.run('collector login', [
      {
        command: 'createClient',
        username: c.username,
        password: c.password,
        textname: `Vigil collector login (${c.deploymentId})`,
        roles: [{ rolename: role, priority: 0 }],
      },
    ]);
    if (client?.error && !ALREADY.test(client.error))
      throw failed(`creating the collector login ${c.username}`, client);
    if (client?.error) {
      // Exists: never reset its password here (that would disconnect the collectors using it); just the role.
      const existing = await this.getClient(c.username);
      if (!existing?.roles.includes(role)) {
        const [added] = await this.run('collector login role', [
          { command: 'addClientRole', username: c.username, rolename: role, priority: 0 },
        ]);
        if (added?.error) throw failed(`giving ${c.username} the role ${role}`, added);
      }
    }
    this.o.log.info({ role, username: c.username, group: c.group }, 'collector broker role and login in place');
  }

  /**
   * The roles of boxes paired before a rule joined the box ACL (./acl.ts; e.g. the commands and results topics of
   * PROTOCOL.md §6.1) get the rules they lack, once per collector start (idempotent; several collectors doing it at
   * once is harmless). Never throws: a failure is logged, and a box's next login (pairing, rotation, broker
   * credentials) brings its role up to date too.
   */
  async upgradeDeviceRoles(): Promise<number> {
    const prefix = deviceRoleName('');
    let upgraded = 0;
    try {
      for (let offset = 0; ; offset += ROLE_PAGE) {
        const [listed] = await this.run('listing roles', [
          { command: 'listRoles', verbose: true, count: ROLE_PAGE, offset },
        ]);
        if (listed?.error) throw failed('listing roles', listed);
        const roles = ((listed?.data as { roles?: unknown } | undefined)?.roles ?? []) as ListedRole[];
        const commands: DynsecCommand[] = [];
        for (const r of roles) {
          if (typeof r.rolename !== 'string' || !r.rolename.startsWith(prefix)) continue;
          const have = new Set((r.acls ?? []).map((a) => `${a.acltype} ${a.topic}`));
          let rules: AclRule[];
          try {
            rules = deviceAcl(r.rolename.slice(prefix.length));
          } catch {
            continue; // not a device id of ours
          }
          const missing = dynsecAcls(rules).filter((a) => !have.has(`${String(a.acltype)} ${String(a.topic)}`));
          if (missing.length > 0) upgraded++;
          commands.push(...missing.map((acl) => ({ command: 'addRoleACL', rolename: r.rolename, ...acl })));
        }
        for (let i = 0; i < commands.length; i += ROLE_PAGE) {
          const answers = await this.run('box role ACLs', commands.slice(i, i + ROLE_PAGE));
          const bad = answers.find((a) => a.error && !ALREADY.test(a.error));
          if (bad) throw failed('adding ACLs to box roles', bad);
        }
        if (roles.length < ROLE_PAGE) break;
      }
      if (upgraded > 0)
        this.o.log.info({ roles: upgraded }, 'box roles given the ACL rules added since they were made');
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'could not bring the box roles up to date');
    }
    return upgraded;
  }

  async issueDeviceLogin(deviceId: string): Promise<MqttCredentials> {
    const role = deviceRoleName(deviceId);
    const password = newBrokerPassword();
    const [roleAnswer, clientAnswer] = await this.run(`login of ${deviceId}`, [
      {
        command: 'createRole',
        rolename: role,
        textname: `Vigil box ${deviceId}`,
        acls: dynsecAcls(deviceAcl(deviceId)),
      },
      {
        command: 'createClient',
        username: deviceId,
        clientid: deviceId,
        password,
        textname: `Vigil box ${deviceId}`,
        roles: [{ rolename: role, priority: 0 }],
      },
    ]);
    if (roleAnswer?.error && !ALREADY.test(roleAnswer.error)) throw failed(`creating role ${role}`, roleAnswer);
    if (roleAnswer?.error) {
      // The role exists (a box paired by an older collector): make sure the rules added since are in it.
      const answers = await this.run(
        `ACLs of ${deviceId}`,
        dynsecAcls(deviceAcl(deviceId)).map((acl) => ({ command: 'addRoleACL', rolename: role, ...acl })),
      );
      const bad = answers.find((a) => a.error && !ALREADY.test(a.error));
      if (bad) throw failed(`adding ACLs to role ${role}`, bad);
    }
    if (clientAnswer?.error && !ALREADY.test(clientAnswer.error))
      throw failed(`creating the broker login of ${deviceId}`, clientAnswer);
    if (clientAnswer?.error) {
      // An existing login (rotation, a box asking again): new password (Mosquitto drops the old connection), enabled.
      const existing = await this.getClient(deviceId);
      const commands: DynsecCommand[] = [{ command: 'setClientPassword', username: deviceId, password }];
      if (existing?.clientid !== deviceId)
        commands.push({ command: 'setClientId', username: deviceId, clientid: deviceId });
      if (!existing?.roles.includes(role))
        commands.push({ command: 'addClientRole', username: deviceId, rolename: role, priority: 0 });
      commands.push({ command: 'enableClient', username: deviceId });
      const bad = (await this.run(`new password of ${deviceId}`, commands)).find((a) => a.error);
      if (bad) throw failed(`resetting the broker login of ${deviceId}`, bad);
    }
    return { username: deviceId, password };
  }

  /** A client's id binding and role names; undefined when it does not exist. */
  private async getClient(username: string): Promise<{ clientid: string | undefined; roles: string[] } | undefined> {
    const [answer] = await this.run(`reading ${username}`, [{ command: 'getClient', username }]);
    if (answer?.error) {
      if (NOT_FOUND.test(answer.error)) return undefined;
      throw failed(`reading the broker login ${username}`, answer);
    }
    const client = (
      answer?.data as { client?: { clientid?: unknown; roles?: Array<{ rolename?: unknown }> } } | undefined
    )?.client;
    return {
      clientid: typeof client?.clientid === 'string' ? client.clientid : undefined,
      roles: (client?.roles ?? []).map((r) => String(r.rolename)),
    };
  }

  async disableDevice(deviceId: string): Promise<void> {
    const [answer] = await this.run(`disabling ${deviceId}`, [{ command: 'disableClient', username: deviceId }]);
    if (answer?.error && !NOT_FOUND.test(answer.error))
      throw failed(`disabling the broker login of ${deviceId}`, answer);
  }

  health(): { ok: boolean; detail: string } {
    const problem = this.api.problem() ?? this.lastFailure;
    return problem ? { ok: false, detail: problem } : { ok: true, detail: 'mosquitto dynamic-security: connected' };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.api.close();
  }
}
