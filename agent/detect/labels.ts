/**
 * Class labels. A model may name its classes in its ONNX metadata (`names`, as written by common exporters:
 * a Python-dict string `{0: 'person', 1: 'bicycle'}`, a JSON array or a JSON object); otherwise the 80 COCO
 * classes in their usual order apply.
 */
export const COCO80: readonly string[] = [
  'person',
  'bicycle',
  'car',
  'motorcycle',
  'airplane',
  'bus',
  'train',
  'truck',
  'boat',
  'traffic light',
  'fire hydrant',
  'stop sign',
  'parking meter',
  'bench',
  'bird',
  'cat',
  'dog',
  'horse',
  'sheep',
  'cow',
  'elephant',
  'bear',
  'zebra',
  'giraffe',
  'backpack',
  'umbrella',
  'handbag',
  'tie',
  'suitcase',
  'frisbee',
  'skis',
  'snowboard',
  'sports ball',
  'kite',
  'baseball bat',
  'baseball glove',
  'skateboard',
  'surfboard',
  'tennis racket',
  'bottle',
  'wine glass',
  'cup',
  'fork',
  'knife',
  'spoon',
  'bowl',
  'banana',
  'apple',
  'sandwich',
  'orange',
  'broccoli',
  'carrot',
  'hot dog',
  'pizza',
  'donut',
  'cake',
  'chair',
  'couch',
  'potted plant',
  'bed',
  'dining table',
  'toilet',
  'tv',
  'laptop',
  'mouse',
  'remote',
  'keyboard',
  'cell phone',
  'microwave',
  'oven',
  'toaster',
  'sink',
  'refrigerator',
  'book',
  'clock',
  'vase',
  'scissors',
  'teddy bear',
  'hair drier',
  'toothbrush',
];

/** Parses a `names` metadata value; `undefined` when it is not one of the understood forms. */
export function parseNamesMetadata(value: string): string[] | undefined {
  const text = value.trim();
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed) && parsed.every((v) => typeof v === 'string')) return parsed as string[];
    if (parsed && typeof parsed === 'object') return fromIndexed(Object.entries(parsed as Record<string, unknown>));
  } catch {
    // not JSON: try the Python dict form below
  }
  const entries: [string, unknown][] = [];
  const re = /(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g;
  for (let m = re.exec(text); m; m = re.exec(text)) entries.push([m[1] ?? '', m[2] ?? m[3] ?? '']);
  return entries.length > 0 ? fromIndexed(entries) : undefined;
}

function fromIndexed(entries: [string, unknown][]): string[] | undefined {
  const out: string[] = [];
  for (const [k, v] of entries) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i > 100_000 || typeof v !== 'string') return undefined;
    out[i] = v;
  }
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) out[i] = `class_${i}`;
  return out.length > 0 ? out : undefined;
}

/** The label of a class id; ids outside the list become `class_<id>` rather than failing. */
export function labelOf(labels: readonly string[], classId: number): string {
  return labels[classId] ?? `class_${classId}`;
}
