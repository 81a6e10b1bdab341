/**
 * Reads the custom metadata map (`metadata_props`, ModelProto field 14) of an ONNX file. onnxruntime-node does
 * not expose it, and exporters put class names there (`names`). Only the top level of the protobuf is walked;
 * a file whose top level is not well-formed protobuf is reported as such.
 */
export interface OnnxTopLevel {
  metadata: Record<string, string>;
  irVersion: number | undefined;
  hasGraph: boolean;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new Error('varint too long');
  }
  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new Error('length-delimited field runs past the end');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (this.pos > this.buf.length) throw new Error('field runs past the end');
  }
}

/** Parses the top level of an ONNX ModelProto; throws an Error saying what is malformed. */
export function readOnnxTopLevel(buf: Uint8Array): OnnxTopLevel {
  const r = new Reader(buf);
  const metadata: Record<string, string> = {};
  let irVersion: number | undefined;
  let hasGraph = false;
  const text = new TextDecoder();
  while (r.pos < buf.length) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 0) throw new Error('field number 0');
    if (field === 1 && wire === 0) irVersion = r.varint();
    else if (field === 7 && wire === 2) {
      r.bytes();
      hasGraph = true;
    } else if (field === 14 && wire === 2) {
      const entry = new Reader(r.bytes());
      let k = '';
      let v = '';
      while (entry.pos < entry.buf.length) {
        const ek = entry.varint();
        if (ek === (1 << 3) + 2) k = text.decode(entry.bytes());
        else if (ek === (2 << 3) + 2) v = text.decode(entry.bytes());
        else entry.skip(ek & 7);
      }
      metadata[k] = v;
    } else r.skip(wire);
  }
  return { metadata, irVersion, hasGraph };
}
