import { parseDuration } from '../../shared/clock/index.js';
import { VigilError } from '../errors.js';

/**
 * One line of the agent's log as `vigil-agent logs` sees it: a pino JSON object (level label or number, ISO or
 * epoch time, component, camera, msg, extras) or any other text (ffmpeg noise, a crash trace), kept as is.
 */

export const LEVEL_VALUES = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LevelName = keyof typeof LEVEL_VALUES;

export interface LogEntry {
  raw: string;
  /** Undefined for a line that is not a JSON object. */
  json: Record<string, unknown> | undefined;
  level: number | undefined;
  timeMs: number | undefined;
  component: string | undefined;
  camera: string | undefined;
  msg: string | undefined;
}

function levelValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return LEVEL_VALUES[v.toLowerCase() as LevelName];
  return undefined;
}

function timeValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

export function parseLogLine(raw: string): LogEntry {
  const trimmed = raw.trimStart();
  let json: Record<string, unknown> | undefined;
  if (trimmed.startsWith('{')) {
    try {
      const v: unknown = JSON.parse(trimmed);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) json = v as Record<string, unknown>;
    } catch {
      json = undefined;
    }
  }
  if (!json)
    return {
      raw,
      json: undefined,
      level: undefined,
      timeMs: undefined,
      component: undefined,
      camera: undefined,
      msg: undefined,
    };
  const str = (v: unknown): string | undefined =>
    typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
  return {
    raw,
    json,
    level: levelValue(json.level),
    timeMs: timeValue(json.time),
    component: str(json.component),
    camera: str(json.camera),
    msg: str(json.msg),
  };
}

export interface LogFilter {
  /** Least level shown. */
  minLevel?: number | undefined;
  /** Only these components (any of them). */
  components?: readonly string[] | undefined;
  cameras?: readonly string[] | undefined;
  /** Only entries at or after this time (ms). */
  sinceMs?: number | undefined;
}

/**
 * Whether an entry passes the filter. A JSON entry lacking the filtered field (no level, no time, no component)
 * does not pass that filter. A line that is not JSON (a crash trace, ffmpeg output) has no level or time to
 * judge, so it is shown — unless a component or camera was asked for, which it cannot belong to.
 */
export function matchesFilter(e: LogEntry, f: LogFilter): boolean {
  if (!e.json) return !((f.components?.length ?? 0) > 0 || (f.cameras?.length ?? 0) > 0);
  if (f.minLevel !== undefined && (e.level === undefined || e.level < f.minLevel)) return false;
  if (f.components && f.components.length > 0 && (e.component === undefined || !f.components.includes(e.component)))
    return false;
  if (f.cameras && f.cameras.length > 0 && (e.camera === undefined || !f.cameras.includes(e.camera))) return false;
  if (f.sinceMs !== undefined && (e.timeMs === undefined || e.timeMs < f.sinceMs)) return false;
  return true;
}

/** `--level warn` → 40; also accepts pino's numbers. */
export function parseLevel(text: string): number {
  const v = levelValue(/^\d+$/.test(text) ? Number(text) : text);
  if (v === undefined)
    throw new VigilError(
      'invalid_argument',
      `--level must be one of ${Object.keys(LEVEL_VALUES).join(', ')}, got "${text}"`,
      { details: { exitCode: 2 } },
    );
  return v;
}

/** `--since 10m` (a duration back from now) or a date/time (`2026-01-01T12:00:00Z`, `2026-01-01 12:00`). */
export function parseSince(text: string, nowMs = Date.now()): number {
  if (/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/.test(text)) return nowMs - parseDuration(text);
  const t = Date.parse(text.includes(' ') && !text.includes('T') ? text.replace(' ', 'T') : text);
  if (Number.isNaN(t))
    throw new VigilError(
      'invalid_argument',
      `--since must be a duration (10m, 2h, 1d) or a date/time (2026-01-01T12:00:00Z), got "${text}"`,
      { details: { exitCode: 2 } },
    );
  return t;
}

const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'component', 'camera', 'msg', 'v']);

const ANSI = {
  reset: '\x1b[0m',
  dim: '\x1b[2m',
  bold: '\x1b[1m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  blue: '\x1b[34m',
  magenta: '\x1b[35m',
  cyan: '\x1b[36m',
  grey: '\x1b[90m',
};

function levelLabel(level: number | undefined): string {
  if (level === undefined) return '?';
  const names = Object.entries(LEVEL_VALUES) as [LevelName, number][];
  const exact = names.find(([, v]) => v === level);
  if (exact) return exact[0];
  const below = names.filter(([, v]) => v <= level).pop();
  return below ? below[0] : String(level);
}

function levelColour(level: number | undefined): string {
  if (level === undefined) return '';
  if (level >= 60) return ANSI.magenta + ANSI.bold;
  if (level >= 50) return ANSI.red;
  if (level >= 40) return ANSI.yellow;
  if (level >= 30) return ANSI.green;
  if (level >= 20) return ANSI.blue;
  return ANSI.grey;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v !== null && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') {
    // a serialized Error: its type and message, not the stack
    const e = v as { type?: unknown; code?: unknown; message: string };
    const type = typeof e.type === 'string' ? `${e.type}: ` : '';
    const code = typeof e.code === 'string' ? `${e.code}: ` : '';
    return JSON.stringify(`${type}${code}${e.message}`);
  }
  return JSON.stringify(v) ?? String(v);
}

/** One line: `time LEVEL component [camera] msg key=value …`, coloured by level when `colour`. */
export function formatEntry(e: LogEntry, colour: boolean): string {
  if (!e.json) return e.raw;
  const c = (code: string, text: string): string => (colour && code ? code + text + ANSI.reset : text);
  const time = e.timeMs !== undefined ? new Date(e.timeMs).toISOString() : '-'.padEnd(24);
  const parts = [
    c(ANSI.dim, time),
    c(levelColour(e.level), levelLabel(e.level).toUpperCase().padEnd(5)),
    c(ANSI.cyan, (e.component ?? '-').padEnd(9)),
  ];
  if (e.camera !== undefined) parts.push(c(ANSI.magenta, `[${e.camera}]`));
  if (e.msg !== undefined) parts.push(e.msg);
  const extras = Object.entries(e.json)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${c(ANSI.grey, `${k}=`)}${formatValue(v)}`);
  return [...parts, ...extras].join(' ');
}

/** Colour only on a terminal and never when NO_COLOR is set (the NO_COLOR convention). */
export function useColour(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}
