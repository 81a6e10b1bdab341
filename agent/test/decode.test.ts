import { describe, expect, it } from 'vitest';
import { isVigilError } from '../../shared/errors/index.js';
import { decodeOutputs, detectFormat, looksDecoded, type OutputTensor } from '../detect/decode.js';
import { COCO80, parseNamesMetadata } from '../detect/labels.js';
import { readOnnxTopLevel } from '../detect/onnx-metadata.js';
import type { InputGeometry } from '../detect/types.js';

const input: InputGeometry = { width: 416, height: 416, layout: 'nchw' };
const map = (...ts: OutputTensor[]) => new Map(ts.map((t) => [t.name, t]));

describe('format detection', () => {
  it('reads YOLOX [1,3549,85] as an undecoded grid', () => {
    expect(detectFormat([{ name: 'output', dims: [1, 3549, 85] }], input)).toMatchObject({
      type: 'yolox',
      classes: 80,
      decoded: 'auto',
    });
  });
  it('reads [1,N,85] with another N (e.g. YOLOv5: 3 anchors per cell) as already decoded', () => {
    expect(
      detectFormat([{ name: 'output', dims: [1, 25200, 85] }], { width: 640, height: 640, layout: 'nchw' }),
    ).toMatchObject({ type: 'yolox', decoded: true });
    expect(detectFormat([{ name: 'output', dims: [1, 1000, 85] }], input)).toMatchObject({
      type: 'yolox',
      decoded: true,
    });
  });
  it('reads [1,84,8400] as YOLO (v8/v11) channels-first', () => {
    expect(detectFormat([{ name: 'output0', dims: [1, 84, 8400] }], input)).toMatchObject({
      type: 'yolo',
      classes: 80,
      transposed: true,
    });
  });
  it('uses the metadata class count to read [1,N,4+nc] as row-major YOLO', () => {
    expect(detectFormat([{ name: 'o', dims: [1, 8400, 84] }], input, { classCount: 80 })).toMatchObject({
      type: 'yolo',
      transposed: false,
    });
  });
  it('reads SSD-style outputs by name', () => {
    const spec = detectFormat(
      [
        { name: 'detection_scores', dims: [1, 100] },
        { name: 'detection_boxes', dims: [1, 100, 4] },
        { name: 'num_detections', dims: [1] },
        { name: 'detection_classes', dims: [1, 100] },
      ],
      input,
    );
    expect(spec).toEqual({
      type: 'ssd',
      boxes: 'detection_boxes',
      classes: 'detection_classes',
      scores: 'detection_scores',
      count: 'num_detections',
      boxOrder: 'yxyx',
    });
  });
  it('rejects unknown layouts with model_format_unknown naming the outputs', () => {
    let err: unknown;
    try {
      detectFormat([{ name: 'weird', dims: [1, 3, 32, 32] }], input);
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'model_format_unknown')).toBe(true);
    expect((err as Error).message).toContain('weird [1, 3, 32, 32]');
  });
});

describe('YOLOX decoding', () => {
  it('decodes a grid cell with stride, exp sizes and obj×cls score', () => {
    const n = 3549;
    const data = new Float32Array(n * 85);
    // Stride 16 level starts after 52*52 rows; cell (gx=3, gy=2).
    const row = 52 * 52 + 2 * 26 + 3;
    const o = row * 85;
    data.set([0.5, 0.25, Math.log(4), Math.log(2), 0.9], o);
    data[o + 5 + 16] = 0.8; // dog
    data[o + 5 + 15] = 0.3;
    const c = decodeOutputs(
      detectFormat([{ name: 'output', dims: [1, n, 85] }], input),
      map({ name: 'output', dims: [1, n, 85], data }),
      input,
      0.3,
    );
    expect(c).toHaveLength(1);
    const [d] = c;
    expect(d?.classId).toBe(16);
    expect(d?.score).toBeCloseTo(0.72, 5);
    // cx = (0.5+3)*16 = 56, cy = (0.25+2)*16 = 36, w = 64, h = 32
    expect(d?.box.map((v) => Math.round(v * 100) / 100)).toEqual([24, 20, 88, 52]);
  });
  it('skips rows below the threshold', () => {
    const data = new Float32Array(3549 * 85);
    data[4] = 0.2;
    data[5] = 1;
    expect(
      decodeOutputs(
        detectFormat([{ name: 'o', dims: [1, 3549, 85] }], input),
        map({ name: 'o', dims: [1, 3549, 85], data }),
        input,
        0.3,
      ),
    ).toEqual([]);
  });
  it('tells decoded outputs from grids by the size of the centre values', () => {
    const raw = new Float32Array(100 * 85).map((_, i) => (i % 85 === 0 ? 0.5 : 0));
    const dec = new Float32Array(100 * 85).map((_, i) => (i % 85 === 0 ? 200 : 0));
    expect(looksDecoded(raw, 100, 85)).toBe(false);
    expect(looksDecoded(dec, 100, 85)).toBe(true);
  });
});

describe('YOLO and SSD decoding', () => {
  it('decodes channels-first YOLO output without objectness', () => {
    const n = 200; // real exports: 8400 anchors, always more than 4+classes
    const data = new Float32Array(84 * n);
    const i = 7;
    data[0 * n + i] = 100;
    data[1 * n + i] = 50;
    data[2 * n + i] = 40;
    data[3 * n + i] = 20;
    data[(4 + 2) * n + i] = 0.66;
    const spec = detectFormat([{ name: 'o', dims: [1, 84, n] }], input);
    const c = decodeOutputs(spec, map({ name: 'o', dims: [1, 84, n], data }), input, 0.3);
    expect(c).toEqual([{ box: [80, 40, 120, 60], score: expect.closeTo(0.66, 5), classId: 2 }]);
  });
  it('decodes SSD y1,x1,y2,x2 normalized boxes, honouring num_detections', () => {
    const spec = detectFormat(
      [
        { name: 'boxes', dims: [1, 3, 4] },
        { name: 'classes', dims: [1, 3] },
        { name: 'scores', dims: [1, 3] },
        { name: 'num', dims: [1] },
      ],
      input,
    );
    const outs = map(
      { name: 'boxes', dims: [1, 3, 4], data: Float32Array.from([0.1, 0.2, 0.5, 0.6, 0, 0, 1, 1, 0, 0, 1, 1]) },
      { name: 'classes', dims: [1, 3], data: Float32Array.from([17, 1, 2]) },
      { name: 'scores', dims: [1, 3], data: Float32Array.from([0.9, 0.8, 0.95]) },
      { name: 'num', dims: [1], data: Float32Array.from([2]) },
    );
    const c = decodeOutputs(spec, outs, input, 0.3);
    expect(c).toHaveLength(2);
    expect(c[0]?.classId).toBe(17);
    expect(c[0]?.box.map((v) => Math.round(v * 10) / 10)).toEqual([83.2, 41.6, 249.6, 208]);
  });
});

describe('labels', () => {
  it('parses exporter metadata forms', () => {
    expect(parseNamesMetadata("{0: 'person', 1: 'fork lift'}")).toEqual(['person', 'fork lift']);
    expect(parseNamesMetadata('["a","b"]')).toEqual(['a', 'b']);
    expect(parseNamesMetadata('{"0":"x","2":"z"}')).toEqual(['x', 'class_1', 'z']);
    expect(parseNamesMetadata('nonsense')).toBeUndefined();
    expect(COCO80).toHaveLength(80);
    expect(COCO80[16]).toBe('dog');
  });
  it('reads metadata_props from the top level of an ONNX file and rejects garbage', () => {
    const enc = new TextEncoder();
    const str = (field: number, s: string) => {
      const b = enc.encode(s);
      return [(field << 3) | 2, b.length, ...b];
    };
    const entry = [...str(1, 'names'), ...str(2, "{0: 'cat'}")];
    const bytes = Uint8Array.from([0x08, 7, ...str(7, ''), (14 << 3) | 2, entry.length, ...entry]);
    expect(readOnnxTopLevel(bytes)).toEqual({ metadata: { names: "{0: 'cat'}" }, irVersion: 7, hasGraph: true });
    expect(() => readOnnxTopLevel(enc.encode('this is not a model at all, just text'))).toThrow();
  });
});
