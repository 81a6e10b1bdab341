/**
 * A small protobuf encoder for the subset of ONNX's `ModelProto` that the motion graph needs (graph, nodes,
 * attributes, initializers, typed inputs/outputs, opset imports). Hand-written rather than a protobufjs
 * dependency: the subset is a few messages of varints and length-delimited fields, and a model we build ourselves
 * never needs decoding. Field numbers follow onnx.proto (proto2, IR version 7+).
 */

/** ONNX TensorProto.DataType values used here. */
export const OnnxType = {
  FLOAT: 1,
  UINT8: 2,
  INT64: 7,
  BOOL: 9,
} as const;
export type OnnxTypeCode = (typeof OnnxType)[keyof typeof OnnxType];

/** AttributeProto.AttributeType values. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;

/** Appends protobuf fields to a growing list of byte chunks. */
class Writer {
  private readonly chunks: Uint8Array[] = [];

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
  }

  private varint(value: number | bigint): void {
    // int64 fields: negative values are 10-byte two's complement varints.
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  /** Packed repeated varints (int64 lists). */
  packedInts(field: number, values: readonly number[]): this {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  /** Packed repeated float32. */
  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    for (const [i, v] of values.entries()) dv.setFloat32(i * 4, v, true);
    return this.bytes(field, b);
  }

  finish(): Uint8Array {
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] };

export const attr = {
  int: (value: number): AttributeValue => ({ kind: 'int', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
  ints: (value: number[]): AttributeValue => ({ kind: 'ints', value }),
  floats: (value: number[]): AttributeValue => ({ kind: 'floats', value }),
};

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: Record<string, AttributeValue>;
}

export interface TensorSpec {
  name: string;
  type: OnnxTypeCode;
  dims: number[];
  /** FLOAT tensors: float values; INT64 tensors: integer values. */
  values: number[];
}

export interface ValueSpec {
  name: string;
  type: OnnxTypeCode;
  /** Fixed dimensions (a motion graph is built for one frame size). */
  dims: number[];
  doc?: string;
}

export interface ModelSpec {
  graphName: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  opset: number;
  irVersion: number;
  producer: string;
  producerVersion: string;
  doc?: string;
}

function writeAttribute(w: Writer, name: string, a: AttributeValue): void {
  // AttributeProto: name=1, f=2, i=3, s=4, floats=7, ints=8, type=20.
  w.string(1, name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value).int(20, ATTR_FLOAT);
      break;
    case 'int':
      w.int(3, a.value).int(20, ATTR_INT);
      break;
    case 'string':
      w.string(4, a.value).int(20, ATTR_STRING);
      break;
    case 'floats':
      w.packedFloats(7, a.value).int(20, ATTR_FLOATS);
      break;
    case 'ints':
      w.packedInts(8, a.value).int(20, ATTR_INTS);
      break;
  }
}

function writeNode(w: Writer, n: NodeSpec): void {
  // NodeProto: input=1, output=2, name=3, op_type=4, attribute=5.
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, (a) => writeAttribute(a, k, v));
}

function writeTensor(w: Writer, t: TensorSpec): void {
  // TensorProto: dims=1, data_type=2, float_data=4, int64_data=7, name=8.
  w.packedInts(1, t.dims).int(2, t.type);
  if (t.type === OnnxType.FLOAT) w.packedFloats(4, t.values);
  else if (t.type === OnnxType.INT64) w.packedInts(7, t.values);
  else throw new Error(`onnx-proto: initializer ${t.name}: unsupported type ${t.type}`);
  w.string(8, t.name);
}

function writeValueInfo(w: Writer, v: ValueSpec): void {
  // ValueInfoProto: name=1, type=2 (TypeProto: tensor_type=1 (elem_type=1, shape=2 (dim=1 (dim_value=1)))), doc=3.
  w.string(1, v.name);
  w.message(2, (tp) =>
    tp.message(1, (tt) => {
      tt.int(1, v.type);
      tt.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => dim.int(1, d));
      });
    }),
  );
  if (v.doc) w.string(3, v.doc);
}

/** Serializes a model to ONNX protobuf bytes. */
export function encodeModel(m: ModelSpec): Uint8Array {
  const w = new Writer();
  // ModelProto: ir_version=1, producer_name=2, producer_version=3, doc_string=6, graph=7, opset_import=8.
  w.int(1, m.irVersion).string(2, m.producer).string(3, m.producerVersion);
  if (m.doc) w.string(6, m.doc);
  w.message(7, (g) => {
    // GraphProto: node=1, name=2, initializer=5, input=11, output=12.
    for (const n of m.nodes) g.message(1, (nw) => writeNode(nw, n));
    g.string(2, m.graphName);
    for (const t of m.initializers) g.message(5, (tw) => writeTensor(tw, t));
    for (const i of m.inputs) g.message(11, (vw) => writeValueInfo(vw, i));
    for (const o of m.outputs) g.message(12, (vw) => writeValueInfo(vw, o));
  });
  // OperatorSetIdProto: domain=1 ('' = ai.onnx), version=2.
  w.message(8, (o) => o.string(1, '').int(2, m.opset));
  return w.finish();
}
