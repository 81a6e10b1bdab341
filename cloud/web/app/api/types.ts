/** The JSON the collector's app API returns (cloud/api/*.ts), as far as the web app reads it. */
export interface ErrorBody {
  error: { code: string; message: string; request_id?: string; details?: unknown };
}

export interface SessionUser {
  id: string;
  email: string;
  tenant: string;
  role: 'admin' | 'reader';
}

export interface SessionJson {
  user: SessionUser;
  csrf_token: string;
  expires_at: string;
}

export interface ThumbnailJson {
  url: string;
  sha256: string;
  size: number;
  content_type: string;
}

export interface EventJson {
  id: string;
  device_id: string;
  camera: string;
  label: string;
  score: number;
  top_score: number | null;
  box: [number, number, number, number] | null;
  status: 'active' | 'ended';
  end_reason: string | null;
  rev: number;
  started_at: string;
  ended_at: string | null;
  duration_s: number | null;
  zones: string[];
  current_zones?: string[];
  stationary: boolean;
  thumbnail: ThumbnailJson | null;
  created_at: string;
  updated_at: string;
  /** On list items and the detail: the vision check's verdict and answer (null: no verify job). */
  verification?: (Partial<VerificationJson> & ListVerificationJson) | null;
  /** The event's own push: the policy's decision and whether a phone or browser got it. */
  push?: { decision: string | null; sent: boolean };
  push_sent?: boolean;
}

export interface ListVerificationJson {
  status: string;
  label?: string | null;
  confidence?: number | null;
  summary?: string | null;
  provider?: string | null;
}

export interface VerificationJson {
  status: string;
  reason: string | null;
  job_state: string | null;
  attempts: number;
  last_error: string | null;
  classify_label: string | null;
  classify_confidence: number | null;
  classify_summary: string | null;
  classify_threat: number | null;
  agrees_with_edge: boolean | null;
  provider: string | null;
  model: string | null;
  classified_at: string | null;
  decision: string | null;
  decision_detail: string | null;
}

export interface PushDeliveryJson {
  target_id: string;
  platform: string;
  status: string;
  http_status: number | null;
  reason: string | null;
  attempts: number;
  at: string | null;
}

export interface EventDetailJson extends EventJson {
  verification: VerificationJson | null;
  push_sent: boolean;
  push_state?: string | null;
  push_at: string | null;
  push_title?: string | null;
  push_deliveries: PushDeliveryJson[];
}

/** One message of the box about an event (GET /v1/events/{id}/messages), as the collector received it. */
export interface EventMessageJson {
  type: 'new' | 'update' | 'end';
  rev: number;
  /** When the collector received it. */
  received_at: string;
  score: number;
  top_score?: number;
  zones?: string[];
  current_zones?: string[];
  stationary?: boolean;
  ended_at?: string | null;
  duration?: number | null;
  end_reason?: string | null;
}

export interface EventPage {
  events: EventJson[];
  next_cursor: string | null;
}

export interface CameraStatus {
  name: string;
  state: string;
  fps?: number;
  last_frame_age_s?: number | null;
  restarts?: number;
}

export interface DeviceJson {
  id: string;
  name: string | null;
  state: 'online' | 'offline' | 'never_seen' | 'revoked';
  online: boolean;
  created_at: string;
  revoked_at: string | null;
  last_seen_at: string | null;
  last_heartbeat_at: string | null;
  clock_skew_ms: number | null;
  version: string | null;
  outbox_depth: number | null;
  dropped: number | null;
  disk_full: boolean | null;
  /** The detector the latest heartbeat named (`id` null: the config's own model file); null or absent: none. */
  model?: DeviceModelJson | null;
  cameras: CameraStatus[];
}

export interface DeviceModelJson {
  id: string | null;
  sha256: string;
}

/** POST /v1/devices/{id}/commands → 202. */
export interface CommandIssuedJson {
  id: string;
  state: CommandState;
  expires_at: string;
}

export type CommandState = 'queued' | 'delivered' | 'done' | 'failed' | 'expired';

/** GET /v1/devices/{id}/commands/{command_id} (cloud/commands/routes.ts commandView), as far as the app reads it. */
export interface CommandJson {
  id: string;
  device_id: string;
  kind: string;
  state: CommandState;
  expires_at: string;
  /** Why it did not work: device_offline (expired), command_refused or command_failed, with the box's code. */
  error: { code: string; reason: string | null; message: string } | null;
  /** The box's CommandResult; for a snapshot, `result` has camera, width, height, captured_at, sha256, size. */
  result: { status: string; result?: Record<string, unknown> } | null;
  snapshot_url: string | null;
}

export interface PairingCodeJson {
  id: string;
  code?: string;
  name: string | null;
  tenant: string;
  state: 'pending' | 'used' | 'expired' | 'revoked';
  created_at: string;
  expires_at: string;
  used_at: string | null;
  device_id: string | null;
}

export interface PushTokenJson {
  id: string;
  platform: 'apns' | 'fcm' | 'webpush';
  token_hint: string;
  app_id: string | null;
  device_label: string | null;
  created_at: string;
  last_status: string | null;
  last_reason: string | null;
  last_sent_at: string | null;
  failures: number;
  /** What this phone or browser is notified of (absent on collectors without per-registration preferences). */
  preferences?: PushPreferencesJson | null;
}

export interface QuietHoursJson {
  /** "HH:MM", local to time_zone. */
  start: string;
  end: string;
  /** IANA name (e.g. Europe/Berlin). */
  time_zone: string;
}

export interface PushPreferencesJson {
  /** null = every label. */
  labels: string[] | null;
  /** "device_id/camera"; null = every camera. */
  cameras: string[] | null;
  quiet_hours: QuietHoursJson | null;
}

export interface ReviewJson {
  id: string;
  device_id: string;
  camera: string;
  severity: 'alert' | 'detection';
  status: 'active' | 'ended';
  started_at: string;
  ended_at: string | null;
  duration_s: number | null;
  /** Event ids, in order of joining. */
  objects: string[];
  labels: string[];
  zones: string[];
  thumbnail_event: string | null;
  reviewed: boolean;
  reviewed_at: string | null;
  rev: number;
  created_at: string;
  updated_at: string;
}

export interface ReviewPage {
  reviews: ReviewJson[];
  next_cursor: string | null;
}

export interface ReviewObjectJson {
  id: string;
  label: string;
  score: number;
  top_score: number | null;
  status: 'active' | 'ended';
  started_at: string;
  ended_at: string | null;
  zones: string[];
  stationary: boolean;
  thumbnail_url: string | null;
}

export interface ReviewDetailJson extends ReviewJson {
  events: ReviewObjectJson[];
  thumbnail: { event_id: string; url: string } | null;
  notification: {
    decision: string | null;
    decision_detail: string | null;
    push_state: string | null;
    push_count: number;
    first_push_at: string | null;
    last_push_at: string | null;
    push_title: string | null;
    push_body: string | null;
    push_deliveries: PushDeliveryJson[];
  } | null;
}
