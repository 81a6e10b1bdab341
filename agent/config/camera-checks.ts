import { COCO80 } from '../detect/labels.js';
import { ZONE_NAME_PATTERN } from '../../firmware-protocol/patterns.js';
import { cameraConfigError, placeOf, type CameraPlace } from './camera-place.js';
import { DEFAULT_ALERT_LABELS, DEFAULT_LABELS } from './objects-schema.js';
import type { AgentCameraConfig, AgentConfig } from './schema.js';
import type { KeyPath, YamlSource } from './yaml-source.js';

/**
 * The camera checks the schema cannot make, each failing with `config_invalid` that names the key, the file and
 * line, the camera and the zone (agent/config/camera-place.ts):
 * - before the schema (on the file as written, so the message says what is wrong rather than which rule failed):
 *   duplicate keys (a zone defined twice), polygons with fewer than 3 points or a point outside 0..1, zone names;
 * - after it (on the loaded config): unknown labels, a zone named like a camera, a zone counting a label its camera
 *   does not track, a required zone its camera does not define (review items are per camera, so a required zone
 *   must be a zone of the same camera; the message says when another camera has it).
 */

const ZONE_NAME_RE = new RegExp(ZONE_NAME_PATTERN);
const MOTION_LABEL = 'motion';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Fails on the first duplicate key of the file, naming the camera and zone when it is one. */
export function checkDuplicateKeys(source: YamlSource, raw: unknown): void {
  const dup = source.duplicateKey();
  if (!dup) return;
  const path = source.pathOfKeyAt(dup.offset);
  const key = path?.at(-1);
  const first = path ? source.line(path) : undefined;
  const lines = first && dup.line && first !== dup.line ? ` (lines ${first} and ${dup.line})` : '';
  const place = path ? placeOf(raw, path) : undefined;
  if (path && place) {
    const problem =
      place.zone !== undefined && path.length === 4
        ? `zone "${place.zone}" is defined twice${lines}; zone names must be unique on a camera`
        : `key "${String(key)}" appears twice in the same mapping${lines}`;
    throw cameraConfigError(source, path, place, problem, dup.line);
  }
}

function checkPolygon(source: YamlSource | undefined, raw: unknown, value: unknown, path: KeyPath, what: string): void {
  if (!Array.isArray(value)) return; // not a list at all: the schema says so
  const place = placeOf(raw, path) as CameraPlace;
  if (value.length < 3)
    throw cameraConfigError(
      source,
      path,
      place,
      `${what} has ${value.length} point${value.length === 1 ? '' : 's'}; a polygon needs at least 3`,
    );
  value.forEach((pt: unknown, i) => {
    const ok = Array.isArray(pt) && pt.length === 2 && pt.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (!ok)
      throw cameraConfigError(source, [...path, i], place, `${what} point ${i}: expected [x, y], got ${json(pt)}`);
    const [x, y] = pt as [number, number];
    if (x < 0 || x > 1 || y < 0 || y > 1)
      throw cameraConfigError(
        source,
        [...path, i],
        place,
        `${what} point ${i} ${json(pt)} is outside 0..1: x and y are fractions of the frame width and height ` +
          '(divide pixels by the detect width and height)',
      );
  });
}

function json(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/** Polygons and zone names of every camera, on the config as written (before defaults and the schema). */
export function checkCameraGeometry(source: YamlSource | undefined, raw: unknown): void {
  const cameras = isRecord(raw) && Array.isArray(raw.cameras) ? raw.cameras : [];
  cameras.forEach((cam: unknown, i) => {
    if (!isRecord(cam)) return;
    const base = ['cameras', i];
    const polygons = (list: unknown, path: KeyPath, what: string): void => {
      if (!Array.isArray(list)) return;
      for (let j = 0; j < list.length; j++) checkPolygon(source, raw, list[j], [...path, j], `${what} ${j}`);
    };
    polygons(cam.masks, [...base, 'masks'], 'motion mask');
    if (isRecord(cam.objects)) polygons(cam.objects.mask, [...base, 'objects', 'mask'], 'object mask');
    if (isRecord(cam.filters))
      for (const [label, f] of Object.entries(cam.filters))
        if (isRecord(f)) polygons(f.mask, [...base, 'filters', label, 'mask'], `${label} mask`);
    if (isRecord(cam.zones))
      for (const [name, z] of Object.entries(cam.zones)) {
        const path = [...base, 'zones', name];
        if (!ZONE_NAME_RE.test(name))
          throw cameraConfigError(
            source,
            path,
            placeOf(raw, path) as CameraPlace,
            'a zone name is 1-64 letters, digits, _ and - (starting with a letter or digit)',
          );
        if (isRecord(z)) checkPolygon(source, raw, z.coordinates, [...path, 'coordinates'], 'coordinates');
      }
  });
}

/** Labels a config may name: the model's `labels` if set, else the 80 COCO classes; `motion` always. */
export function knownLabels(config: AgentConfig): Set<string> {
  return new Set([...(config.model?.labels ?? COCO80), MOTION_LABEL]);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

function unknownLabelProblem(label: string, known: Set<string>, config: AgentConfig): string {
  const near = [...known].find((k) => editDistance(k, label.toLowerCase()) <= 2);
  const hint = near ? `did you mean "${near}"? ` : '';
  const source = config.model?.labels ? 'model.labels' : 'the COCO labels of the detector';
  return `unknown label "${label}": ${hint}labels are those of ${source} (e.g. person, car, dog) or motion`;
}

/** Checks of the loaded config (defaults filled) that span keys or cameras. */
export function checkCameras(config: AgentConfig, source: YamlSource | undefined): void {
  const known = knownLabels(config);
  const cameraNames = new Set(config.cameras.map((c) => c.name));
  config.cameras.forEach((cam, i) => {
    const base = ['cameras', i] as const;
    const place = (zone?: string): CameraPlace => ({ camera: cam.name, index: i, zone });
    const label = (l: string, path: KeyPath, zone?: string): void => {
      if (!known.has(l)) throw cameraConfigError(source, path, place(zone), unknownLabelProblem(l, known, config));
    };
    const labels = (list: readonly string[] | undefined, path: KeyPath, defaults?: readonly string[]) => {
      if (!list || (defaults && sameList(list, defaults))) return;
      for (const [j, l] of list.entries()) label(l, [...path, j]);
    };
    if (cam.labels !== 'all') labels(cam.labels, [...base, 'labels'], DEFAULT_LABELS);
    for (const l of Object.keys(cam.filters)) label(l, [...base, 'filters', l]);
    for (const [name, zone] of Object.entries(cam.zones)) checkZone(cam, i, name, zone, cameraNames, source, label);
    labels(cam.review.alerts.labels, [...base, 'review', 'alerts', 'labels'], DEFAULT_ALERT_LABELS);
    labels(cam.review.detections.labels, [...base, 'review', 'detections', 'labels']);
    for (const kind of ['alerts', 'detections'] as const)
      cam.review[kind].required_zones.forEach((zone, j) => {
        if (zone in cam.zones) return;
        const elsewhere = config.cameras.filter((c) => c !== cam && zone in c.zones).map((c) => `"${c.name}"`);
        const hint = elsewhere.length
          ? `camera ${elsewhere.join(', ')} has it, but review items are per camera: define the zone on this camera`
          : 'no camera defines it';
        throw cameraConfigError(
          source,
          [...base, 'review', kind, 'required_zones', j],
          place(zone),
          `review.${kind}.required_zones names zone "${zone}", which this camera does not define (${hint}); ` +
            `its zones: ${Object.keys(cam.zones).join(', ') || 'none'}`,
        );
      });
  });
}

function checkZone(
  cam: AgentCameraConfig,
  i: number,
  name: string,
  zone: AgentCameraConfig['zones'][string],
  cameraNames: Set<string>,
  source: YamlSource | undefined,
  label: (l: string, path: KeyPath, zone?: string) => void,
): void {
  const path = ['cameras', i, 'zones', name];
  const place = { camera: cam.name, index: i, zone: name };
  if (cameraNames.has(name))
    throw cameraConfigError(
      source,
      path,
      place,
      `zone "${name}" has the name of a camera; zone and camera names must differ (events and filters name both)`,
    );
  zone.objects?.forEach((l, j) => {
    label(l, [...path, 'objects', j], name);
    if (cam.labels !== 'all' && !cam.labels.includes(l))
      throw cameraConfigError(
        source,
        [...path, 'objects', j],
        place,
        `the zone counts "${l}", which the camera does not track (labels: ${cam.labels.join(', ')}); add it to ` +
          `the camera's labels or remove it from the zone's objects`,
      );
  });
  for (const l of Object.keys(zone.filters)) label(l, [...path, 'filters', l], name);
}
