import mqtt, { type IClientOptions } from 'mqtt';
import { describeError } from '../../shared/errors/index.js';
import { ulid } from '../../shared/ids/index.js';
import type { AgentConfig } from '../config.js';
import { boxNameOf, brokerLoginOptions, redactUrl, topicPrefixOf } from '../local/index.js';
import { fail, pass, skip, type CheckResult } from './report.js';

/**
 * The LAN broker of `local_mqtt`, when configured: connects with the configured login / certificate as a separate
 * client, then publishes one message under the topic prefix and reads it back (so the broker's ACL lets the box
 * publish and subscribe where it will). A failure is `fail` but never touches the cloud checks.
 */
export async function checkLocalMqtt(config: AgentConfig, timeoutMs: number): Promise<CheckResult> {
  const c = config.local_mqtt;
  if (!c) return skip('local_mqtt', 'not configured (local_mqtt section absent): no LAN integration');
  const url = redactUrl(c.url);
  let login: Partial<IClientOptions>;
  try {
    login = brokerLoginOptions(c);
  } catch (err) {
    return fail('local_mqtt', `${url}: ${describeError(err)}`, 'check local_mqtt.ca_file / cert_file / key_file');
  }
  const prefix = topicPrefixOf(c);
  const probe = `${prefix}/doctor/${ulid()}`;
  const client = mqtt.connect(c.url, {
    clientId: `vigil-${boxNameOf(c)}-doctor-${ulid().slice(-6)}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    ...login,
  });
  const t0 = Date.now();
  try {
    const outcome = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
      const done = (err: string | undefined): void => {
        clearTimeout(timer);
        resolve(err);
      };
      client.once('error', (err) => done(describeError(err)));
      client.once('close', () => done('the broker closed the connection'));
      client.once('connect', () => {
        client.on('message', (topic) => {
          if (topic === probe) done(undefined);
        });
        client.subscribe(probe, { qos: 1 }, (err, granted) => {
          if (err || granted?.[0]?.qos === 128) return done(`subscribing to ${prefix}/… was refused`);
          client.publish(probe, 'ok', { qos: 1 }, (e) => {
            if (e) done(`publishing to ${prefix}/… failed: ${describeError(e)}`);
          });
        });
      });
    });
    if (outcome !== undefined)
      return fail(
        'local_mqtt',
        `${url}: ${outcome}`,
        'is the LAN broker running and reachable (host, port, firewall)? check local_mqtt.username / password or ' +
          'the client certificate, and that its ACL lets this login publish and subscribe under ' +
          `${prefix}/# (and ${c.discovery_prefix}/# for discovery)`,
      );
    const ms = Date.now() - t0;
    return pass(
      'local_mqtt',
      `${url}: connected, published and read back under ${prefix}/ in ${ms} ms; Home Assistant discovery ` +
        `${c.discovery ? `on (${c.discovery_prefix}/device/…)` : 'off'}`,
    );
  } finally {
    await new Promise<void>((r) => client.end(true, {}, () => r()));
  }
}
