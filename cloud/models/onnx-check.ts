import * as ort from 'onnxruntime-node';
import type { ModelFormat } from '../../firmware-protocol/messages/command.js';
import { VigilError } from '../errors.js';

/**
 * Finalize's model check: loads the bytes once with onnxruntime-node (CPU) and checks that the model has ONE 4-D
 * image input (float32 or uint8, `[1,3,H,W]` or `[1,H,W,3]`) and outputs a box of the declared format can decode —
 * the same layouts the agent's decoder accepts (agent/detect/decode.ts):
 *
 *   yolox  one output `[1, N, 5+classes]` (rows `[cx, cy, w, h, obj, cls…]`)
 *   yolo   one output `[1, 4+classes, N]` (YOLOv8, channels first) or `[1, N, 5+classes]` (YOLOv5)
 *   ssd    outputs boxes `[1, N, 4]`, classes `[1, N]` and scores `[1, N]` (a count output may follow)
 *
 * Output shapes come from the model's metadata; when a dimension is symbolic the model is run once on a zero input
 * of its own size to read the real ones. Labels, when given, must number the model's classes (yolox, yolo). Every
 * refusal is `model_rejected` with a message naming what is wrong.
 */
export interface TensorSignature {
  name: string;
  type: string;
  /** Dimensions; -1 where the model leaves one symbolic. */
  dims: number[];
}

export interface ModelSignature {
  input: TensorSignature;
  outputs: TensorSignature[];
  /** Classes the output layout holds (yolox, yolo; undefined for ssd or when ambiguous). */
  classes: number | undefined;
}

const describe = (t: TensorSignature): string => `${t.name} [${t.dims.map((d) => (d < 0 ? '?' : d)).join(', ')}]`;
const invalid = (message: string, details?: Record<string, unknown>): VigilError =>
  new VigilError('model_rejected', message, details ? { details } : {});

function dimsOf(shape: ReadonlyArray<number | string>): number[] {
  return shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
}

/** Checks the ONNX bytes against the declared format; resolves with what the model looks like. */
export async function checkOnnxModel(
  bytes: Uint8Array,
  format: ModelFormat,
  labels?: readonly string[],
): Promise<ModelSignature> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      graphOptimizationLevel: 'basic',
    });
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0]!.slice(0, 300);
    throw invalid(`onnxruntime cannot load the file as an ONNX model: ${reason}`);
  }
  try {
    const input = checkInput(session);
    let outputs = session.outputMetadata.map((m, i): TensorSignature => {
      const name = m.name ?? session.outputNames[i] ?? `output${i}`;
      return m.isTensor ? { name, type: m.type, dims: dimsOf(m.shape) } : { name, type: 'non-tensor', dims: [] };
    });
    const nonTensor = outputs.find((o) => o.type === 'non-tensor');
    if (nonTensor) throw invalid(`output ${nonTensor.name} is not a tensor`);
    if (outputs.some((o) => o.dims.some((d) => d < 0))) outputs = await runOnce(session, input, outputs);
    const classes = checkOutputs(format, outputs);
    if (labels !== undefined && classes !== undefined && !classes.includes(labels.length))
      throw invalid(
        `${labels.length} labels were declared, but the ${format} output ${describe(outputs[0]!)} holds ` +
          `${classes.join(' or ')} classes`,
        { labels: labels.length, classes },
      );
    return { input, outputs, classes: classes?.length === 1 ? classes[0] : undefined };
  } finally {
    await session.release().catch(() => undefined);
  }
}

function checkInput(session: ort.InferenceSession): TensorSignature {
  const inputs = session.inputMetadata;
  if (inputs.length !== 1)
    throw invalid(
      `the model has ${inputs.length} inputs (${session.inputNames.join(', ')}); one image input is expected`,
    );
  const m = inputs[0]!;
  const name = m.name ?? session.inputNames[0] ?? 'input';
  if (!m.isTensor) throw invalid(`input ${name} is not a tensor`);
  const input = { name, type: m.type, dims: dimsOf(m.shape) };
  const [n, a, b, c] = input.dims;
  const image =
    input.dims.length === 4 &&
    n !== undefined &&
    (n === 1 || n < 0) &&
    ((a === 3 && b! > 0 && c! > 0) || (c === 3 && a! > 0 && b! > 0));
  if (!image)
    throw invalid(`input ${describe(input)} is not a 4-D image of fixed size ([1, 3, H, W] or [1, H, W, 3])`, {
      input: input.dims,
    });
  if (input.type !== 'float32' && input.type !== 'uint8')
    throw invalid(`input ${name} is ${input.type}; float32 or uint8 is expected`);
  return input;
}

/** Runs the model once on a zero image to learn output shapes its metadata leaves symbolic. */
async function runOnce(
  session: ort.InferenceSession,
  input: TensorSignature,
  declared: TensorSignature[],
): Promise<TensorSignature[]> {
  const dims = input.dims.map((d) => (d < 0 ? 1 : d));
  const size = dims.reduce((a, b) => a * b, 1);
  const tensor =
    input.type === 'uint8'
      ? new ort.Tensor('uint8', new Uint8Array(size), dims)
      : new ort.Tensor('float32', new Float32Array(size), dims);
  let result: ort.InferenceSession.OnnxValueMapType;
  try {
    result = await session.run({ [input.name]: tensor });
  } catch (err) {
    throw invalid(`the model fails on a zero image of its input size: ${(err as Error).message.split('\n')[0]}`);
  }
  return declared.map((o) => {
    const t = result[o.name] as ort.Tensor | undefined;
    return t ? { ...o, dims: [...t.dims].map(Number) } : o;
  });
}

/** Checks the outputs against the format; the class counts the layout allows (undefined for ssd). */
function checkOutputs(format: ModelFormat, outputs: TensorSignature[]): number[] | undefined {
  const plural = outputs.length === 1 ? '' : 's';
  const found = `the model has ${outputs.length} output${plural}: ${outputs.map(describe).join(', ')}`;
  if (format === 'ssd') {
    const boxes = outputs.find((o) => o.dims.length === 3 && o.dims[2] === 4);
    const n = boxes?.dims[1];
    const vectors = outputs.filter((o) => o !== boxes && o.dims.length === 2 && o.dims[1] === n);
    if (!boxes || vectors.length < 2)
      throw invalid(`format ssd expects outputs boxes [1, N, 4], classes [1, N] and scores [1, N]; ${found}`, {
        outputs: outputs.map((o) => ({ name: o.name, dims: o.dims })),
      });
    return undefined;
  }
  const single = outputs.length === 1 ? outputs[0] : undefined;
  const rows = single && single.dims.length === 3 && single.dims[0] === 1 ? single.dims.slice(1) : undefined;
  if (format === 'yolox') {
    if (!rows || rows[1]! < 6 || rows[0]! < rows[1]!)
      throw invalid(`format yolox expects one output [1, N, 5+classes]; ${found}`, {
        outputs: outputs.map((o) => ({ name: o.name, dims: o.dims })),
      });
    return [rows[1]! - 5];
  }
  if (!rows || Math.min(rows[0]!, rows[1]!) < 5)
    throw invalid(`format yolo expects one output [1, 4+classes, N] or [1, N, 5+classes]; ${found}`, {
      outputs: outputs.map((o) => ({ name: o.name, dims: o.dims })),
    });
  const [a, b] = rows as [number, number];
  // Channels first (YOLOv8) when the short side comes first; otherwise rows of 5+classes (YOLOv5), or 4+classes.
  return a < b ? [a - 4] : [b - 5, b - 4];
}
