import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../shared/clock/index.js';
import { VigilError } from '../errors.js';
import { parseHttpSignature, sha256Hex } from '../../shared/signing/index.js';
import { HTTP_PATHS } from '../../firmware-protocol/http.js';
import type { BrokerCredentials } from '../../firmware-protocol/messages.js';
import { DeviceRateLimiter } from '../ingest/rate-limit.js';
import type { Store } from '../store/store.js';
import type { DeviceVerifier } from '../verify/index.js';
import type { BrokerProvisioner } from './provisioner.js';

/**
 * `POST /v1/devices/{device_id}/broker-credentials` (protocol v1, signed like every device request, empty body):
 * a fresh broker login for the signing box — for a box paired before the deployment provisioned broker access, or
 * one whose login the broker refuses (its password was rotated with its key). Every call sets a new password, so
 * it is limited per device (burst 3, then one per 20 s). Answers:
 *   200 BrokerCredentials · 401/403 signature errors (as ingest) · 404 not_found (this collector issues no broker
 *   logins) · 413 payload_too_large (a body) · 429 rate_limited · 503 service_unavailable (broker API unreachable).
 */
export interface BrokerCredentialRouteDeps {
  verifier: DeviceVerifier;
  store: Pick<Store, 'findDevice'>;
  provisioner: BrokerProvisioner;
  clock: Clock;
}

export function registerBrokerCredentialRoute(app: FastifyInstance, d: BrokerCredentialRouteDeps): void {
  const limiter = new DeviceRateLimiter({ perSecond: 1 / 20, burst: 3, maxTracked: 10_000, clock: d.clock });

  app.post<{ Params: { device_id: string } }>(
    HTTP_PATHS.brokerCredentials,
    { bodyLimit: 1024 },
    async (req, reply): Promise<BrokerCredentials> => {
      const length = req.headers['content-length'];
      if (req.body !== undefined || (length !== undefined && length !== '0')) {
        throw new VigilError(
          'payload_too_large',
          'this request has an empty body (the signature covers the empty body)',
        );
      }
      const device = await d.verifier.verify(
        parseHttpSignature(req.headers, req.method, req.url, sha256Hex(Buffer.alloc(0))),
        'http',
      );
      if (!d.provisioner.issuesDeviceLogins) {
        throw new VigilError(
          'not_found',
          'this collector issues no broker logins (mqtt.provisioner: none); use the broker as the deployment documents',
        );
      }
      const wait = limiter.take(device.deviceId);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new VigilError(
          'rate_limited',
          `broker logins are issued at most once per 20 s per device; retry after ${wait} s`,
          { details: { retry_after_s: wait } },
        );
      }
      const login = await issue(d, device.deviceId).catch((err: unknown) => {
        if ((err as VigilError).status === 503) reply.header('retry-after', '10');
        throw err;
      });
      req.log.info({ device_id: device.deviceId }, 'broker login issued to a box');
      return { v: 1, device_id: device.deviceId, mqtt_credentials: login };
    },
  );
}

async function issue(d: BrokerCredentialRouteDeps, deviceId: string): Promise<BrokerCredentials['mqtt_credentials']> {
  let login: BrokerCredentials['mqtt_credentials'] | undefined;
  try {
    login = await d.provisioner.issueDeviceLogin(deviceId);
  } catch (err) {
    throw new VigilError(
      'service_unavailable',
      `the broker could not be reached to issue a login: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!login) throw new VigilError('not_found', 'this collector issues no broker logins');
  // A revocation racing this request (on another collector, whose key cache this one may not share yet): the
  // device must not stay enabled on the broker.
  const now = await d.store.findDevice(deviceId);
  if (!now || now.revokedAt !== null) {
    await d.provisioner.disableDevice(deviceId).catch(() => undefined);
    throw new VigilError('device_revoked', `device ${deviceId} is revoked`);
  }
  return login;
}
