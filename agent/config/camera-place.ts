import { VigilError, isVigilError } from '../errors.js';
import type { KeyPath, YamlSource } from './yaml-source.js';

/**
 * Pointed config errors about a camera: `config key "cameras.0.zones.porch.coordinates" (/etc/vigil/agent.yaml:12),
 * camera "front", zone "porch": <problem>`. The camera is named by its `name` (its index when it has none), the
 * zone when the key is inside one; details carry camera, zone, path, file and line for the CLI and tests.
 */

export interface CameraPlace {
  /** The camera's name, when it has a usable one. */
  camera: string | undefined;
  index: number;
  zone?: string | undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The camera (and zone) a key path of the config points into, given the raw config; undefined outside cameras. */
export function placeOf(raw: unknown, path: KeyPath): CameraPlace | undefined {
  if (path[0] !== 'cameras' || path.length < 2) return undefined;
  const index = Number(path[1]);
  if (!Number.isInteger(index)) return undefined;
  const cameras = isRecord(raw) ? raw.cameras : undefined;
  const entry = Array.isArray(cameras) ? (cameras[index] as unknown) : undefined;
  const name = isRecord(entry) && typeof entry.name === 'string' ? entry.name : undefined;
  const zone = path[2] === 'zones' && path.length > 3 ? String(path[3]) : undefined;
  return { camera: name, index, zone };
}

/** `camera "front", zone "porch"` (or `camera 2` when it has no name). */
export function describePlace(place: CameraPlace): string {
  const camera = place.camera === undefined ? `camera ${place.index}` : `camera "${place.camera}"`;
  return place.zone === undefined ? camera : `${camera}, zone "${place.zone}"`;
}

/** A `config_invalid` error at `path` of camera `place`, naming key, file:line, camera and zone. */
export function cameraConfigError(
  source: YamlSource | undefined,
  path: KeyPath,
  place: CameraPlace,
  problem: string,
  /** The line to name instead of the path's (a duplicate key: the second one). */
  atLine?: number,
): VigilError {
  const key = path.join('.');
  const line = atLine ?? source?.line(path);
  const where = source ? ` (${source.file}${line ? `:${line}` : ''})` : '';
  return new VigilError('config_invalid', `config key "${key}"${where}, ${describePlace(place)}: ${problem}`, {
    details: { path: key, file: source?.file, line, camera: place.camera ?? place.index, zone: place.zone },
  });
}

/**
 * A config_invalid error from the generic loader (schema, unknown key) about a key inside a camera, prefixed with
 * the camera and zone it is in; other errors unchanged.
 */
export function withCameraPlace(err: unknown, raw: unknown): unknown {
  if (!isVigilError(err, 'config_invalid')) return err;
  const details = (err.details ?? {}) as { path?: unknown; issues?: { path: string }[] };
  const path =
    typeof details.path === 'string'
      ? details.path.split('.')
      : (details.issues?.[0]?.path.split('/').filter(Boolean) ?? []);
  const place = placeOf(raw, path);
  if (!place) return err;
  return new VigilError('config_invalid', `${describePlace(place)}: ${err.message}`, {
    details: { ...details, camera: place.camera ?? place.index, zone: place.zone },
    cause: err,
  });
}
