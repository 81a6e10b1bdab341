import { OffsetClock, systemClock } from '../../shared/clock/index.js';
import { describeError, isVigilError } from '../../shared/errors/index.js';
import type { Heartbeat } from '../../firmware-protocol/messages.js';
import { effectiveUplinkConfig, type AgentConfig } from '../config.js';
import { identityOf, loadCredentials, type LoadedCredentials } from '../credentials/index.js';
import { loadClientTls, type ClientTls } from '../uplink/https-client.js';
import { HttpsTransport } from '../uplink/https-transport.js';
import type { SendResult } from '../uplink/types.js';
import { fail, pass, skip, warn, type CheckResult } from './report.js';

/** Clock skew thresholds, seconds: above WARN deserves NTP; above FAIL the collector rejects signatures (±300 s). */
export const CLOCK_WARN_S = 30;
export const CLOCK_FAIL_S = 300;

/** The credentials file: present, well-formed, and readable by its owner only (0600). */
export function checkCredentials(config: AgentConfig): { result: CheckResult; loaded?: LoadedCredentials } {
  const file = config.device.credentials;
  try {
    const loaded = loadCredentials(config.data_dir, { file, insecure: 'warn' });
    const mode = loaded.mode.toString(8).padStart(4, '0');
    const who = `${loaded.stored.device_id} (key ${loaded.stored.key_id})`;
    if (loaded.warnings.length > 0) {
      // The daemon refuses such a file: this is a failure, not a warning.
      return {
        result: fail(
          'credentials',
          `${file}: mode ${mode}, group/others can read the device secret`,
          `chmod 600 ${file}`,
        ),
        loaded,
      };
    }
    return { result: pass('credentials', `${file}: ${who}, mode ${mode}`), loaded };
  } catch (err) {
    const code = isVigilError(err) ? err.code : 'credentials_invalid';
    const hint =
      code === 'not_paired'
        ? 'pair this box: vigil-cloud pair-code create on the collector, then vigil-agent pair --cloud URL --code CODE'
        : 'the file is damaged: pair again with vigil-agent pair --force (the old file is kept as a backup)';
    return { result: fail('credentials', describeError(err), hint) };
  }
}

const CLOUD_HINTS: Record<string, string> = {
  network_error:
    'is the collector running and reachable from this box? check the URL, DNS, firewall and TLS (uplink.ca_file ' +
    'for a private CA)',
  timeout: 'the collector did not answer in time: check the network path and the collector load',
  unknown_device:
    'the collector does not know this device (removed, or a different collector/database): pair again with ' +
    'vigil-agent pair --force',
  signature_mismatch:
    "the collector rejects this box's key (revoked or re-paired elsewhere): pair again with vigil-agent pair --force",
  device_revoked: 'this device was revoked at the collector: pair again with a new code',
  timestamp_out_of_tolerance: 'see the clock check',
};

function heartbeat(deviceId: string, clock: OffsetClock, version: string): Buffer {
  const hb: Heartbeat = {
    v: 1,
    device_id: deviceId,
    sent_at: new Date(clock.now()).toISOString(),
    uptime_s: 0,
    version,
    outbox: { depth: 0, oldest_pending_age_s: null, dropped: 0, in_flight: 0 },
    cameras: [],
    last_ack_at: null,
  };
  return Buffer.from(JSON.stringify(hb));
}

function clockResult(skewMs: number, url: string): CheckResult {
  const s = Math.abs(skewMs) / 1000;
  const dir = skewMs > 0 ? 'behind' : 'ahead of';
  // The Date header has 1 s resolution: under a second is "in step".
  const detail =
    s < 1
      ? `in step with the collector within 1 s (${url}, from its Date header)`
      : `this box is ${s.toFixed(1)} s ${dir} the collector (${url}, from its Date header)`;
  const hint = 'enable time sync (systemd-timesyncd / chrony with an NTP server the box can reach)';
  if (s > CLOCK_FAIL_S)
    return fail(
      'clock',
      `${detail}; over the ±${CLOCK_FAIL_S} s signature tolerance`,
      `${hint}; until then the agent corrects its signing clock from the collector`,
    );
  if (s > CLOCK_WARN_S) return warn('clock', `${detail}; over ${CLOCK_WARN_S} s`, hint);
  return pass('clock', detail);
}

/**
 * Reaches the collector the way the daemon does: one SIGNED heartbeat over HTTPS that the collector must ack.
 * The same exchange measures the clock skew from the response's `Date` (±0.5 s): with the collector's time
 * known from a rejected timestamp, the heartbeat is re-sent on the corrected clock so the credentials still get
 * checked.
 */
export async function checkCloud(
  config: AgentConfig,
  loaded: LoadedCredentials | undefined,
  o: { timeoutMs: number; version: string },
): Promise<CheckResult[]> {
  if (!loaded)
    return [
      skip('cloud', 'not checked: no usable credentials', 'see the credentials check'),
      skip('clock', 'not checked: no collector to compare with'),
    ];
  const url = effectiveUplinkConfig(config, loaded.stored.endpoints).https_url ?? loaded.stored.endpoints.https;
  // The daemon's TLS settings (uplink.ca_file, client certificate), so doctor sees what the daemon sees.
  let tls: ClientTls;
  try {
    tls = loadClientTls(config.uplink);
  } catch (err) {
    return [
      fail(
        'cloud',
        `${url}: ${describeError(err)}`,
        'fix the uplink TLS files (uplink.ca_file, uplink.cert_file, uplink.key_file): the daemon cannot connect ' +
          'either',
      ),
      skip('clock', 'not measured: no usable TLS settings'),
    ];
  }
  const clock = new OffsetClock(systemClock);
  const transport = new HttpsTransport({
    baseUrl: url,
    identity: identityOf(loaded.stored),
    clock,
    timeoutMs: o.timeoutMs,
    connectTimeoutMs: o.timeoutMs,
    connections: 1,
    tls,
  });
  const device = loaded.stored.device_id;
  try {
    const send = async (): Promise<{ result: SendResult; midMs: number; sentAt: string }> => {
      const body = heartbeat(device, clock, o.version);
      const sentAt = (JSON.parse(body.toString()) as { sent_at: string }).sent_at;
      const t0 = Date.now();
      const result = await transport.sendHeartbeat(body);
      return { result, midMs: (t0 + Date.now()) / 2, sentAt };
    };
    let { result, midMs, sentAt } = await send();
    let clockCheck: CheckResult = skip('clock', 'not measured: the collector sent no Date');
    if (result.failure?.code === 'timestamp_out_of_tolerance' && result.failure.serverTimeMs !== undefined) {
      clockCheck = clockResult(result.failure.serverTimeMs - midMs, url);
      clock.offsetMs = result.failure.serverTimeMs - midMs;
      ({ result, sentAt } = await send());
    } else {
      const server = result.ack ? result.serverTimeMs : result.failure?.serverTimeMs;
      if (server !== undefined) clockCheck = clockResult(server - midMs, url);
    }
    if (result.failure) {
      const f = result.failure;
      const reachable = f.code !== 'network_error' && f.code !== 'timeout';
      const cloud = fail(
        'cloud',
        `${url}: ${f.code}${f.status ? ` (HTTP ${f.status})` : ''}: ${f.message}`,
        CLOUD_HINTS[f.code] ?? `the collector refused the signed heartbeat (${f.code}); read its logs for the request`,
      );
      return [cloud, reachable ? clockCheck : skip('clock', 'not measured: the collector is unreachable')];
    }
    const item = result.ack?.acks.find((a) => a.kind === 'heartbeat' && a.id === sentAt);
    if (!item)
      return [
        fail(
          'cloud',
          `${url}: the collector answered but did not ack the signed heartbeat`,
          'is this URL a Vigil collector of the same protocol version?',
        ),
        clockCheck,
      ];
    if (item.status === 'rejected') {
      return [
        fail(
          'cloud',
          `${url}: heartbeat rejected: ${item.code ?? 'rejected'}${item.message ? `: ${item.message}` : ''}`,
          CLOUD_HINTS[item.code ?? ''] ?? 'read the collector logs',
        ),
        clockCheck,
      ];
    }
    const via =
      config.device.transport === 'mqtt' || config.uplink.transport === 'mqtt'
        ? ' (events go over MQTT; this checks the HTTPS side only)'
        : '';
    return [pass('cloud', `${url}: signed heartbeat ${item.status} as ${device}${via}`), clockCheck];
  } finally {
    await transport.close();
  }
}
