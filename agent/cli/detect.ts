import type { Command } from 'commander';
import { VigilError } from '../errors.js';
import { assetPath } from '../../shared/paths/index.js';
import { ObjectDetector } from '../detect/detector.js';
import type { ModelType } from '../detect/types.js';

/**
 * `vigil-agent detect <image>`: runs the object detector on one image file and prints what it found.
 * `--json` prints `{"detections":[{"label","score","box":[x1,y1,x2,y2]}]}` with boxes normalized 0..1.
 */
export function parseUnit(name: string, value: string): number {
  const v = Number(value);
  if (!Number.isFinite(v) || v < 0 || v > 1)
    throw new VigilError('invalid_argument', `${name} must be a number within 0..1, got "${value}"`);
  return v;
}

export function parsePositiveInt(name: string, value: string, max = 64): number {
  const v = Number(value);
  if (!Number.isInteger(v) || v < 1 || v > max)
    throw new VigilError('invalid_argument', `${name} must be an integer within 1..${max}, got "${value}"`);
  return v;
}

export function parseModelType(value: string): ModelType | 'auto' {
  if (value === 'auto' || value === 'yolox' || value === 'yolo' || value === 'ssd') return value;
  throw new VigilError('invalid_argument', `--type must be auto, yolox, yolo or ssd, got "${value}"`);
}

export function registerDetect(program: Command): void {
  program
    .command('detect')
    .description('Detect objects in one image file (JPEG, PNG, …) with the ONNX detector')
    .argument('<image>', 'image file')
    .option('--model <path>', 'ONNX detector model', assetPath('models', 'yolox_nano.onnx'))
    .option('--type <type>', 'model output layout: auto, yolox, yolo or ssd', 'auto')
    .option('--threshold <score>', 'least score reported (0..1)', '0.3')
    .option('--threads <n>', 'onnxruntime threads', '1')
    .option('--json', 'print JSON (boxes normalized 0..1)')
    .action(
      async (
        image: string,
        opts: { model: string; type: string; threshold: string; threads: string; json?: boolean },
      ) => {
        const detector = await ObjectDetector.create({
          modelPath: opts.model,
          type: parseModelType(opts.type),
          scoreThreshold: parseUnit('--threshold', opts.threshold),
          threads: parsePositiveInt('--threads', opts.threads),
        });
        try {
          const { detections, width, height, timings } = await detector.detectImageFile(image);
          const r4 = (v: number) => Math.round(v * 10000) / 10000;
          if (opts.json) {
            const out = detections.map((d) => ({
              label: d.label,
              score: r4(d.score),
              box: [r4(d.box[0] / width), r4(d.box[1] / height), r4(d.box[2] / width), r4(d.box[3] / height)],
            }));
            process.stdout.write(JSON.stringify({ detections: out }) + '\n');
            return;
          }
          const lines = [
            `${image}: ${width}x${height}, ${detections.length} detection(s), model run ${timings.runMs.toFixed(1)} ms`,
          ];
          if (detections.length > 0)
            lines.push(`${'label'.padEnd(16)} ${'score'.padStart(6)}  box (pixels x1 y1 x2 y2)`);
          for (const d of detections)
            lines.push(
              `${d.label.padEnd(16)} ${d.score.toFixed(3).padStart(6)} ` +
                ` ${d.box.map((v) => Math.round(v).toString().padStart(5)).join(' ')}`,
            );
          process.stdout.write(lines.join('\n') + '\n');
        } finally {
          await detector.close();
        }
      },
    );
}
