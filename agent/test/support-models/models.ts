/**
 * Test support for the model_update tests: the real YOLOX-nano (../shared/models; a missing asset fails the test,
 * it never skips), variants of it with other bytes, models that fail in given ways, a real frame, a local HTTP
 * server handing out model files (what the collector's signed model URL serves), and model_update commands.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import type { Command, ModelUpdateArgs } from '../../../firmware-protocol/messages.js';
import { ulid } from '../../../shared/ids/index.js';
import { silentLogger } from '../../../shared/log/index.js';
import { assetPath } from '../../../shared/paths/index.js';
import type { Frame } from '../../camera/frame.js';
import type { CommandContext } from '../../commands/types.js';
import { attr, encodeModel, OnnxType } from '../../motion/onnx-proto.js';

export function asset(...parts: string[]): string {
  const p = assetPath(...parts);
  if (!existsSync(p)) throw new Error(`test asset missing: ${p} (set VIGIL_ASSETS or put ../shared beside the repo)`);
  return p;
}

export const YOLOX = (): string => asset('models', 'yolox_nano.onnx');
export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** YOLOX-nano with a doc string appended (a protobuf field onnxruntime reads and ignores): other bytes, same model. */
export function yoloxVariant(tag: string): Buffer {
  const doc = Buffer.from(`vigil test copy ${tag}`);
  if (doc.length > 127) throw new Error('tag too long');
  return Buffer.concat([readFileSync(YOLOX()), Buffer.from([0x32, doc.length]), doc]);
}

/** The first megabyte of YOLOX-nano: not an ONNX model onnxruntime (or our reader) can load. */
export function corruptModel(): Buffer {
  return readFileSync(YOLOX()).subarray(0, 1_000_000);
}

/**
 * A model that loads (and passes onnxruntime's first run on the blank input ObjectDetector.create does) but fails
 * on any real picture: it gathers index (max(input) > 0.5) from a one-element tensor, so index 1 — out of bounds,
 * an onnxruntime error — as soon as a pixel is not black. Its output fits the YOLOX layout of a 128x128 input.
 */
export function failsOnRealFrameModel(): Buffer {
  return Buffer.from(
    encodeModel({
      graphName: 'fails-on-real-frames',
      nodes: [
        { op: 'ReduceMax', inputs: ['images'], outputs: ['m'], attributes: { keepdims: attr.int(0) } },
        { op: 'Greater', inputs: ['m', 'half'], outputs: ['b'] },
        { op: 'Cast', inputs: ['b'], outputs: ['i'], attributes: { to: attr.int(OnnxType.INT64) } },
        { op: 'Gather', inputs: ['one', 'i'], outputs: ['g'] },
        { op: 'Expand', inputs: ['g', 'shape'], outputs: ['output'] },
      ],
      initializers: [
        { name: 'half', type: OnnxType.FLOAT, dims: [], values: [0.5] },
        { name: 'one', type: OnnxType.FLOAT, dims: [1], values: [0] },
        { name: 'shape', type: OnnxType.INT64, dims: [3], values: [1, 336, 85] },
      ],
      inputs: [{ name: 'images', type: OnnxType.FLOAT, dims: [1, 3, 128, 128] }],
      outputs: [{ name: 'output', type: OnnxType.FLOAT, dims: [1, 336, 85] }],
      opset: 13,
      irVersion: 8,
      producer: 'vigil-test',
      producerVersion: '1',
    }),
  );
}

/** A yuv420p frame made from an image file of ../shared/media (what a camera would deliver). */
export async function frameFromImage(name: string): Promise<Frame> {
  const { data, info } = await sharp(asset('media', name)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const w = info.width & ~1;
  const h = info.height & ~1;
  const out = Buffer.alloc((w * h * 3) / 2);
  const rgb = (x: number, y: number): [number, number, number] => {
    const o = (y * info.width + x) * info.channels;
    return [data[o] as number, data[o + 1] as number, data[o + 2] as number];
  };
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const [r, g, b] = rgb(x, y);
      out[y * w + x] = Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b);
    }
  const cw = w / 2;
  for (let y = 0; y < h / 2; y++)
    for (let x = 0; x < cw; x++) {
      const [r, g, b] = rgb(2 * x, 2 * y);
      out[w * h + y * cw + x] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      out[w * h + (w * h) / 4 + y * cw + x] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  return { camera: 'test', seq: 0, width: w, height: h, data: out, mediaMs: 0, wallMs: Date.now() };
}

export interface ServedFile {
  body: Buffer;
  /** Answer with this status instead (the body is not sent). */
  status?: number;
  /** Send this Content-Length header value instead of the real one; `null`: chunked, no length. */
  contentLength?: number | null;
}

/** A local HTTP server handing out model files by path (the collector's signed model URL, in the tests). */
export class ModelServer {
  readonly files = new Map<string, ServedFile>();
  /** Request targets (path and query) in order. */
  readonly requests: string[] = [];
  private server: Server | undefined;
  base = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const target = req.url ?? '/';
      this.requests.push(target);
      const f = this.files.get(target.split('?')[0] ?? '');
      if (!f) {
        res.writeHead(404).end('not found');
        return;
      }
      if (f.status !== undefined) {
        res.writeHead(f.status).end('refused');
        return;
      }
      const length = f.contentLength === undefined ? f.body.length : f.contentLength;
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        ...(length === null ? {} : { 'content-length': String(length) }),
      });
      res.end(f.body);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.base;
  }

  /** Serves `body` at `/v1/models/<id>/file` and returns the relative signed-looking URL. */
  serve(modelId: string, file: ServedFile): string {
    const path = `/v1/models/${modelId}/file`;
    this.files.set(path, file);
    return `${path}?exp=9999999999&sig=test`;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export const newModelId = (): string => `mdl_${ulid()}`;

/** ModelUpdateArgs for `bytes` served at `url`. */
export function argsFor(modelId: string, bytes: Buffer, url: string, over: Partial<ModelUpdateArgs> = {}) {
  return {
    model_id: modelId,
    name: `test model ${modelId.slice(-6)}`,
    format: 'yolox',
    size: bytes.length,
    sha256: sha256(bytes),
    url,
    ...over,
  } satisfies ModelUpdateArgs;
}

/** A model_update command as the executor hands it to the handler. */
export function modelUpdateContext(args: Record<string, unknown>, deviceId = 'dev_test'): CommandContext {
  const now = Date.now();
  const command: Command = {
    v: 1,
    id: `cmd_${ulid()}`,
    device_id: deviceId,
    kind: 'model_update',
    args,
    issued_at: new Date(now).toISOString(),
    expires_at: new Date(now + 600_000).toISOString(),
  };
  return { command, log: silentLogger() };
}
