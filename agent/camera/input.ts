import { isAbsolute, resolve } from 'node:path';

/**
 * What kind of input a camera's `input` string names, and the ffmpeg arguments that open it.
 *
 *   rtsp://… rtsps://…   live, TCP transport (UDP loses packets → smeared frames on busy networks)
 *   http://… https://…   live (MJPEG or anything ffmpeg reads over HTTP)
 *   /dev/video*          live, V4L2 device
 *   lavfi:<graph>        generated (ffmpeg lavfi filtergraph, e.g. `lavfi:testsrc2=size=640x360:rate=5`);
 *                        finite when the graph has a duration, like a file
 *   anything else        a local file path (relative paths resolve against the working directory)
 */
export type InputKind = 'rtsp' | 'http' | 'v4l2' | 'lavfi' | 'file';

export interface CameraInput {
  kind: InputKind;
  /** True for cameras: frames are dropped when busy, ffmpeg restarted when it exits or stalls. */
  live: boolean;
  /** What ffmpeg opens (URL, device, path or filtergraph). */
  target: string;
  /** Arguments up to and including `-i target`. */
  args: string[];
}

export function classifyInput(input: string): InputKind {
  const lower = input.toLowerCase();
  if (lower.startsWith('rtsp://') || lower.startsWith('rtsps://')) return 'rtsp';
  if (lower.startsWith('http://') || lower.startsWith('https://')) return 'http';
  if (lower.startsWith('lavfi:')) return 'lavfi';
  if (input.startsWith('/dev/video')) return 'v4l2';
  return 'file';
}

export interface InputArgOptions {
  realtime: boolean;
  loop: boolean;
  extra: string[];
}

export function cameraInput(input: string, opts: InputArgOptions): CameraInput {
  const kind = classifyInput(input);
  const live = kind === 'rtsp' || kind === 'http' || kind === 'v4l2';
  const args: string[] = [];
  let target = input;
  switch (kind) {
    case 'rtsp':
      args.push('-rtsp_transport', 'tcp');
      break;
    case 'v4l2':
      args.push('-f', 'v4l2');
      break;
    case 'lavfi':
      target = input.slice('lavfi:'.length);
      if (opts.realtime) args.push('-re');
      args.push('-f', 'lavfi');
      break;
    case 'file':
      target = isAbsolute(input) ? input : resolve(input);
      if (opts.realtime) args.push('-re');
      if (opts.loop) args.push('-stream_loop', '-1');
      break;
    case 'http':
      break;
  }
  args.push(...opts.extra, '-i', target);
  return { kind, live, target, args };
}
