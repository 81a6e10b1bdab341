import { describeError, isVigilError } from '../../shared/errors/index.js';
import { ObjectDetector } from '../detect/index.js';
import { detectorOptionsFrom } from '../detect/config.js';
import type { AgentConfig } from '../config.js';
import { fail, pass, skip, type CheckResult } from './report.js';

const HINTS: Record<string, string> = {
  model_not_found: 'fix model.path, or copy the .onnx file there',
  model_invalid:
    'the file is not a usable ONNX model (truncated download? wrong file?): copy it again and compare its checksum',
  model_format_unknown: 'the output layout was not recognised: set model.type (yolox, yolo, ssd) to match the model',
};

/** The configured detector loads and runs once; its warm-up time is what the first detection after start costs. */
export async function checkModel(config: AgentConfig): Promise<CheckResult> {
  const m = config.model;
  if (!m)
    return skip(
      'model',
      'no model configured: motion-only (events labelled motion)',
      'set model.path to an ONNX detector to get labelled events',
    );
  let detector: ObjectDetector | undefined;
  try {
    detector = await ObjectDetector.create(detectorOptionsFrom(m));
    const d = detector;
    return pass(
      'model',
      `${m.path}: ${d.format.type} ${d.input.width}x${d.input.height}, ${d.labels.length} labels, ` +
        `warm-up ${Math.round(d.warmupMs)} ms`,
    );
  } catch (err) {
    const code = isVigilError(err) ? err.code : 'model_invalid';
    return fail('model', describeError(err), HINTS[code] ?? 'check model.path and model.type');
  } finally {
    await detector?.close().catch(() => undefined);
  }
}
