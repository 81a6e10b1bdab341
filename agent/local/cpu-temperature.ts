import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const THERMAL = '/sys/class/thermal';

/**
 * The SoC temperature in °C, from the first thermal zone the kernel exposes (`thermal_zoneN/temp` under
 * /sys/class/thermal, millidegrees), preferring one whose type names the CPU/SoC. Null when the box has none readable
 * (containers, most VMs).
 */
export function readCpuTemperature(root = THERMAL): number | null {
  let zones: string[];
  try {
    zones = readdirSync(root).filter((z) => z.startsWith('thermal_zone'));
  } catch {
    return null;
  }
  const read = (zone: string, file: string): string | undefined => {
    try {
      return readFileSync(join(root, zone, file), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const sorted = [...zones].sort((a, b) => {
    const cpu = (z: string): number => (/cpu|soc|x86_pkg/i.test(read(z, 'type') ?? '') ? 0 : 1);
    return cpu(a) - cpu(b) || a.localeCompare(b, 'en', { numeric: true });
  });
  for (const z of sorted) {
    const milli = Number(read(z, 'temp'));
    if (Number.isFinite(milli) && milli > -50_000 && milli < 200_000) return Math.round(milli / 100) / 10;
  }
  return null;
}
