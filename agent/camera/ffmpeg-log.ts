import { VigilError, type AgentErrorCode } from '../errors.js';
import type { InputKind } from './input.js';

/** Hides the password of `scheme://user:password@host` URLs: camera URLs often carry credentials. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]+):([^@/\s]+)@/gi, '$1$2:***@');
}

/** A stderr line that reads like an error (no /g: `test` keeps no state between lines). */
const ERROR_LINE = new RegExp(
  'error|fail|refused|not found|no such|invalid|unable|cannot|denied|unauthorized|timed out|unreachable|' +
    'could not|returned [45]\\d\\d',
  'i',
);

/**
 * Keeps the tail of ffmpeg's stderr: the last line, the last line that looks like an error, and a few recent
 * lines for error messages. Also picks up the output frame rate from the stream header (for `fps: 0`).
 */
export class FfmpegLog {
  private partial = '';
  private readonly recent: string[] = [];
  lastLine: string | undefined;
  lastErrorLine: string | undefined;
  outputFps: number | undefined;
  private inOutputSection = false;

  push(chunk: Buffer): string[] {
    const text = this.partial + chunk.toString('utf8');
    const lines = text.split(/\r?\n|\r/);
    this.partial = lines.pop() ?? '';
    const out: string[] = [];
    for (const raw of lines) {
      const line = redactUrl(raw.trim());
      if (!line) continue;
      out.push(line);
      this.lastLine = line;
      this.recent.push(line);
      if (this.recent.length > 20) this.recent.shift();
      if (ERROR_LINE.test(line)) this.lastErrorLine = line;
      if (/^Output #0/.test(line)) this.inOutputSection = true;
      const m = /Stream #\d+:\d+.*?Video:.*?,\s*([\d.]+)(k?)\s*fps/.exec(line);
      if (m?.[1] && (this.inOutputSection || this.outputFps === undefined)) {
        const fps = Number(m[1]) * (m[2] === 'k' ? 1000 : 1);
        if (fps > 0 && Number.isFinite(fps)) this.outputFps = fps;
      }
    }
    return out;
  }

  /** The most useful reason to show: the last error-looking line, else the last line. */
  reason(): string | undefined {
    return this.lastErrorLine ?? this.lastLine;
  }

  tail(): string[] {
    return [...this.recent];
  }

  reset(): void {
    this.partial = '';
    this.inOutputSection = false;
  }
}

/** A VigilError for an ffmpeg that exited without frames (or failed mid-stream), with its stderr reason. */
export function ffmpegExitError(
  camera: string,
  kind: InputKind,
  target: string,
  exit: { code: number | null; signal: string | null },
  reason: string | undefined,
): VigilError {
  const why = reason ?? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`);
  const shown = redactUrl(target);
  let code: AgentErrorCode = 'camera_ffmpeg_failed';
  if (/no such file or directory|does not exist|cannot open video device/i.test(why)) code = 'camera_input_not_found';
  else if (kind === 'rtsp' || kind === 'http' || kind === 'v4l2') code = 'camera_unreachable';
  return new VigilError(code, `camera ${camera}: ffmpeg could not read ${shown}: ${why}`, {
    details: { camera, input: shown, exit_code: exit.code, signal: exit.signal, reason: why },
  });
}
