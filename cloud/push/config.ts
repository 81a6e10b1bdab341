import { Type, type Static } from '@sinclair/typebox';
import { durationSetting as Duration } from '../../shared/config/index.js';

/**
 * The `push:` section of the collector config. A platform is used only when its sub-section is present; the
 * others are skipped (their targets get outcome `failed` / `platform_not_configured`, and one log line at start).
 *
 *   push:
 *     apns:    { team_id: ABCDE12345, key_id: KEY1234567, bundle_id: com.example.vigil,
 *                key_file: /etc/vigil/AuthKey_KEY1234567.p8 }
 *     fcm:     { service_account_file: /etc/vigil/firebase-sa.json }
 *     webpush: { subject: 'mailto:ops@example.com', public_key: B…, private_key: … }
 *
 * Env overrides follow the shared loader, e.g. `VIGIL_CLOUD__PUSH__APNS__ENDPOINT=sandbox`.
 */

const BASE64URL = '^[A-Za-z0-9_-]+$';

export const ApnsConfigSchema = Type.Object(
  {
    team_id: Type.String({
      pattern: '^[A-Z0-9]{10}$',
      description: 'Apple Developer Team ID (10 characters); the `iss` of the provider token.',
    }),
    key_id: Type.String({
      pattern: '^[A-Z0-9]{10}$',
      description: 'Key ID of the APNs auth key (.p8); the `kid` of the provider token.',
    }),
    key_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Path of the APNs auth key (AuthKey_<key_id>.p8, PKCS#8 PEM). One of key_file / key_pem.',
      }),
    ),
    key_pem: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'The APNs auth key itself (PKCS#8 PEM), e.g. from a secret store via the environment.',
      }),
    ),
    bundle_id: Type.String({ minLength: 1, description: 'App bundle id; sent as apns-topic.' }),
    endpoint: Type.String({
      default: 'production',
      pattern: '^(production|sandbox|https?://.+)$',
      description:
        'production (api.push.apple.com), sandbox (api.sandbox.push.apple.com, development builds) or a URL ' +
        '(http:// = cleartext HTTP/2, tests only).',
    }),
    ca_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'PEM CA bundle trusted for the endpoint instead of the system CAs (tests, TLS-intercepting proxies).',
      }),
    ),
    token_refresh: Duration(
      '50m',
      'Age at which the provider token (JWT) is rebuilt; APNs accepts 20m..60m (rebuilding sooner is refused as ' +
        'TooManyProviderTokenUpdates).',
    ),
  },
  { additionalProperties: false, description: 'Apple Push Notification service (token-based, HTTP/2).' },
);
export type ApnsConfig = Static<typeof ApnsConfigSchema>;

export const FcmConfigSchema = Type.Object(
  {
    service_account_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Path of the Firebase service-account JSON (client_email, private_key, token_uri, project_id). One of ' +
          'service_account_file / service_account_json.',
      }),
    ),
    service_account_json: Type.Optional(
      Type.String({
        minLength: 2,
        description: 'The service-account JSON itself, e.g. from a secret store via the environment.',
      }),
    ),
    project_id: Type.Optional(
      Type.String({ minLength: 1, description: 'Firebase project; default: project_id of the service account.' }),
    ),
    endpoint: Type.String({
      default: 'https://fcm.googleapis.com',
      format: 'uri',
      pattern: '^https?://',
      description: 'FCM API base URL.',
    }),
    token_uri: Type.Optional(
      Type.String({
        format: 'uri',
        pattern: '^https?://',
        description: 'OAuth2 token endpoint; default: token_uri of the service account.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Firebase Cloud Messaging, HTTP v1 API with a service account.' },
);
export type FcmConfig = Static<typeof FcmConfigSchema>;

export const WebPushConfigSchema = Type.Object(
  {
    subject: Type.String({
      pattern: '^(mailto:|https://)',
      description: 'VAPID contact (mailto: or https: URL) push services may use to reach the operator.',
    }),
    public_key: Type.String({
      pattern: BASE64URL,
      minLength: 87,
      maxLength: 87,
      description:
        'VAPID public key: uncompressed P-256 point, base64url (the app subscribes with it as applicationServerKey).',
    }),
    private_key: Type.String({
      pattern: BASE64URL,
      minLength: 43,
      maxLength: 43,
      description: 'VAPID private key: 32 bytes, base64url. `npx web-push generate-vapid-keys` makes a pair.',
    }),
  },
  {
    additionalProperties: false,
    description: 'Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291).',
  },
);
export type WebPushConfig = Static<typeof WebPushConfigSchema>;

export const PushConfigSchema = Type.Object(
  {
    apns: Type.Optional(ApnsConfigSchema),
    fcm: Type.Optional(FcmConfigSchema),
    webpush: Type.Optional(WebPushConfigSchema),
    ttl: Duration(
      '1h',
      'How long a provider keeps trying to deliver a push to an offline phone (apns-expiration, FCM ttl, Web Push ' +
        'TTL).',
    ),
    timeout: Duration('10s', 'Longest wait for one provider request.'),
    concurrency: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 8,
      description: 'Provider requests in flight at once for one notification fan-out.',
    }),
    max_attempts: Type.Integer({
      minimum: 1,
      maximum: 10,
      default: 4,
      description: 'Attempts per token for transient failures (429, 5xx, network).',
    }),
    backoff_base: Duration(
      '1s',
      'First retry delay when the provider gave no Retry-After; doubles per attempt (with jitter).',
    ),
    max_retry_wait: Duration(
      '2m',
      'Longest wait before a retry; a longer Retry-After ends the attempts with outcome retry (the caller may ' +
        'queue it).',
    ),
  },
  { default: {}, additionalProperties: false, description: 'Phone push: APNs, FCM and Web Push senders.' },
);
export type PushConfig = Static<typeof PushConfigSchema>;
