import type { HaComponent, HaDeviceDiscovery } from '../../firmware-protocol/local/messages.js';
import type { LocalTopics } from './topics.js';

/**
 * Home Assistant device-based discovery payloads (firmware-protocol/local: `ha-device-discovery`). The box is one
 * HA device (`dev.ids` = `vigil_<box>`); its entities are announced on one discovery topic per camera plus one for
 * the box diagnostics, all naming the same device, so a camera's entities can be removed alone (an empty retained
 * payload on its topic) while the others stay. Unique ids: `vigil_<box>_<camera>_<what>`, stable across restarts.
 */

export interface DiscoveryCamera {
  name: string;
  /** Labels tracked on the camera (motion-only boxes: `motion`). */
  labels: readonly string[];
  zones: readonly string[];
}

export interface DiscoveryContext {
  topics: LocalTopics;
  version: string;
  /** Snapshots published: an image entity per label. */
  snapshots: boolean;
}

const ORIGIN_URL = 'https://github.com/vigil-dev/vigil';

function base(ctx: DiscoveryContext): Omit<HaDeviceDiscovery, 'cmps'> {
  const box = ctx.topics.box;
  return {
    dev: { ids: [`vigil_${box}`], name: `Vigil ${box}`, mf: 'Vigil', mdl: 'vigil-agent', sw: ctx.version },
    o: { name: 'vigil-agent', sw: ctx.version, url: ORIGIN_URL },
    avty_t: ctx.topics.availability,
    pl_avail: 'online',
    pl_not_avail: 'offline',
    qos: 1,
  };
}

const title = (s: string): string => s.replace(/[_-]+/g, ' ').replace(/^./, (c) => c.toUpperCase());

/** The discovery payload of one camera: occupancy + count per label and per zone, an image per label, a switch. */
export function cameraDiscovery(ctx: DiscoveryContext, cam: DiscoveryCamera): HaDeviceDiscovery {
  const t = ctx.topics;
  const id = (what: string): string => `vigil_${t.box}_${cam.name}_${what}`;
  const cmps: Record<string, HaComponent> = {};
  const occupancy = (key: string, name: string, topic: string): void => {
    cmps[`${cam.name}_${key}_occupancy`] = {
      p: 'binary_sensor',
      uniq_id: id(`${key}_occupancy`),
      name: `${name} occupancy`,
      dev_cla: 'occupancy',
      stat_t: topic,
      val_tpl: "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}",
      pl_on: 'ON',
      pl_off: 'OFF',
    };
  };
  const count = (key: string, name: string, topic: string): void => {
    cmps[`${cam.name}_${key}_count`] = {
      p: 'sensor',
      uniq_id: id(`${key}_count`),
      name: `${name} count`,
      stat_t: topic,
      stat_cla: 'measurement',
      ic: 'mdi:counter',
    };
  };
  for (const label of cam.labels) {
    const name = `${title(cam.name)} ${label}`;
    occupancy(label, name, t.count(cam.name, label));
    count(label, name, t.count(cam.name, label));
    if (ctx.snapshots)
      cmps[`${cam.name}_${label}_snapshot`] = {
        p: 'image',
        uniq_id: id(`${label}_snapshot`),
        name: `${name} snapshot`,
        img_t: t.snapshot(cam.name, label),
        cont_type: 'image/jpeg',
      };
    for (const zone of cam.zones) {
      const zname = `${title(cam.name)} ${title(zone)} ${label}`;
      occupancy(`${zone}_${label}`, zname, t.zoneCount(cam.name, zone, label));
      count(`${zone}_${label}`, zname, t.zoneCount(cam.name, zone, label));
    }
  }
  cmps[`${cam.name}_detect`] = {
    p: 'switch',
    uniq_id: id('detect'),
    name: `${title(cam.name)} detect`,
    ic: 'mdi:motion-sensor',
    cmd_t: t.detectSet(cam.name),
    stat_t: t.detectState(cam.name),
    pl_on: 'ON',
    pl_off: 'OFF',
    stat_on: 'ON',
    stat_off: 'OFF',
    ent_cat: 'config',
  };
  return { ...base(ctx), cmps };
}

/**
 * The discovery payload of the box diagnostics (one JSON state topic, a value template per sensor). The CPU
 * temperature sensor is announced only on a box that can read it.
 */
export function boxDiscovery(ctx: DiscoveryContext, o: { cpuTemperature: boolean }): HaDeviceDiscovery {
  const t = ctx.topics;
  const id = (what: string): string => `vigil_${t.box}_${what}`;
  const diag = (key: string, name: string, extra: Partial<HaComponent>): HaComponent => ({
    p: 'sensor',
    uniq_id: id(key),
    name,
    stat_t: t.diagnostics,
    val_tpl: `{{ value_json.${key} }}`,
    ent_cat: 'diagnostic',
    ...extra,
  });
  return {
    ...base(ctx),
    cmps: {
      outbox_depth: diag('outbox_depth', 'Outbox depth', { stat_cla: 'measurement', ic: 'mdi:tray-full' }),
      uplink: diag('uplink', 'Cloud uplink', { ic: 'mdi:cloud-upload' }),
      ...(o.cpuTemperature
        ? {
            cpu_temperature: diag('cpu_temperature', 'CPU temperature', {
              dev_cla: 'temperature',
              unit_of_meas: '°C',
              stat_cla: 'measurement',
            }),
          }
        : {}),
      local_dropped: diag('local_dropped', 'Local messages dropped', { stat_cla: 'measurement', ic: 'mdi:delete' }),
    },
  };
}
