// ONNX ModelProto bytes decoded for the FLOP counter: only the fields it reads, weights as views.

// Why not protobufjs: its decode and toObject of PP-OCRv4 rec (10.8 MB, 765 nodes) make a
// Long and a default-filled object per field: 145 ms in a fresh process here, 47 ms warm;
// this reader takes 50 ms fresh and 12 ms warm, and a daemon's first load of that model
// counted its FLOPs in 110 ms instead of 147 (medians of 5, beside the engine's load on one
// core). Field numbers are those of proto/onnx/onnx.proto.

/** A TensorProto's fields the counter reads; `raw_data` is a view into the model's bytes. */
export interface OnnxTensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
  float_data: number[];
  int32_data: number[];
  int64_data: number[];
  double_data: number[];
  uint64_data: number[];
}

/** AttributeProto; `type` is the AttributeType number (FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7). */
export interface OnnxAttribute {
  name: string;
  type: number;
  f: number;
  i: number;
  s: Uint8Array;
  t: OnnxTensor | null;
  floats: number[];
  ints: number[];
}

export interface OnnxNode {
  input: string[];
  output: string[];
  op_type: string;
  domain: string;
  attribute: OnnxAttribute[];
}

/** One axis of a declared shape: a size, a symbolic name, or neither. */
export interface OnnxDimension {
  dim_value?: number;
  dim_param?: string;
}

export interface OnnxValueInfo {
  name: string;
  elem_type: number;
  /** Undefined when the value declares no shape. */
  dims: OnnxDimension[] | undefined;
}

export interface OnnxGraph {
  node: OnnxNode[];
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
}

export interface OnnxModel {
  opset_import: { domain: string; version: number }[];
  graph: OnnxGraph | null;
}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH = 2;
const FIXED32 = 5;

/** A cursor over protobuf wire format between `at` and `end`. */
class Wire {
  at: number;

  constructor(
    readonly bytes: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.at = start;
  }

  get more(): boolean {
    return this.at < this.end;
  }

  /** A varint as a signed 64-bit integer (exact up to 2^53), as int64 and int32 fields are. */
  varint(): number {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i += 1) {
      if (this.at >= this.end) throw new Error('the ONNX model is truncated (a varint runs past its message)');
      const b = this.bytes[this.at++] as number;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (b < 0x80) return (hi | 0) * 0x1_0000_0000 + (lo >>> 0);
    }
    throw new Error('the ONNX model holds a varint longer than 10 bytes');
  }

  /** The bounds of a length-delimited field, the cursor moved past it. */
  length(): [number, number] {
    const size = this.varint();
    const start = this.at;
    if (size < 0 || start + size > this.end) throw new Error('the ONNX model is truncated (a field runs past its message)');
    this.at = start + size;
    return [start, this.at];
  }

  string(): string {
    const [start, end] = this.length();
    return this.bytes.toString('utf8', start, end);
  }

  view(): Uint8Array {
    const [start, end] = this.length();
    return this.bytes.subarray(start, end);
  }

  message<T>(read: (wire: Wire) => T): T {
    const [start, end] = this.length();
    return read(new Wire(this.bytes, start, end));
  }

  float(): number {
    this.#need(4);
    const value = this.bytes.readFloatLE(this.at);
    this.at += 4;
    return value;
  }

  double(): number {
    this.#need(8);
    const value = this.bytes.readDoubleLE(this.at);
    this.at += 8;
    return value;
  }

  /** A repeated scalar, packed (one length-delimited field) or not (one value per field). */
  repeated(wireType: number, into: number[], read: (wire: Wire) => number): void {
    if (wireType !== LENGTH) {
      into.push(read(this));
      return;
    }
    const [start, end] = this.length();
    const packed = new Wire(this.bytes, start, end);
    while (packed.more) into.push(read(packed));
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.#need(8);
        this.at += 8;
        return;
      case LENGTH:
        this.length();
        return;
      case FIXED32:
        this.#need(4);
        this.at += 4;
        return;
      default:
        throw new Error(`the ONNX model holds protobuf wire type ${wireType}, which onnx.proto does not use`);
    }
  }

  #need(bytes: number): void {
    if (this.at + bytes > this.end) throw new Error('the ONNX model is truncated (a fixed-size field runs past its message)');
  }
}

/** Calls `field` with each field's number and wire type; `field` reads the value or returns false to skip it. */
function fields(wire: Wire, field: (number: number, wireType: number) => boolean): void {
  while (wire.more) {
    const key = wire.varint();
    const wireType = key & 7;
    if (!field(Math.floor(key / 8), wireType)) wire.skip(wireType);
  }
}

const unsigned = (wire: Wire): number => {
  const value = wire.varint();
  return value < 0 ? value + 2 ** 64 : value;
};

function tensor(wire: Wire): OnnxTensor {
  const t: OnnxTensor = { name: '', dims: [], data_type: 0, raw_data: new Uint8Array(0), float_data: [], int32_data: [], int64_data: [], double_data: [], uint64_data: [] };
  fields(wire, (n, type) => {
    if (n === 1) wire.repeated(type, t.dims, (w) => w.varint());
    else if (n === 2 && type === VARINT) t.data_type = wire.varint();
    else if (n === 4) wire.repeated(type, t.float_data, (w) => w.float());
    else if (n === 5) wire.repeated(type, t.int32_data, (w) => w.varint());
    else if (n === 7) wire.repeated(type, t.int64_data, (w) => w.varint());
    else if (n === 8 && type === LENGTH) t.name = wire.string();
    else if (n === 9 && type === LENGTH) t.raw_data = wire.view();
    else if (n === 10) wire.repeated(type, t.double_data, (w) => w.double());
    else if (n === 11) wire.repeated(type, t.uint64_data, unsigned);
    else return false;
    return true;
  });
  return t;
}

function attribute(wire: Wire): OnnxAttribute {
  const a: OnnxAttribute = { name: '', type: 0, f: 0, i: 0, s: new Uint8Array(0), t: null, floats: [], ints: [] };
  fields(wire, (n, type) => {
    if (n === 1 && type === LENGTH) a.name = wire.string();
    else if (n === 2 && type === FIXED32) a.f = wire.float();
    else if (n === 3 && type === VARINT) a.i = wire.varint();
    else if (n === 4 && type === LENGTH) a.s = wire.view();
    else if (n === 5 && type === LENGTH) a.t = wire.message(tensor);
    else if (n === 7) wire.repeated(type, a.floats, (w) => w.float());
    else if (n === 8) wire.repeated(type, a.ints, (w) => w.varint());
    else if (n === 20 && type === VARINT) a.type = wire.varint();
    else return false;
    return true;
  });
  return a;
}

function node(wire: Wire): OnnxNode {
  const nd: OnnxNode = { input: [], output: [], op_type: '', domain: '', attribute: [] };
  fields(wire, (n, type) => {
    if (type !== LENGTH) return false;
    if (n === 1) nd.input.push(wire.string());
    else if (n === 2) nd.output.push(wire.string());
    else if (n === 4) nd.op_type = wire.string();
    else if (n === 5) nd.attribute.push(wire.message(attribute));
    else if (n === 7) nd.domain = wire.string();
    else return false;
    return true;
  });
  return nd;
}

function dimension(wire: Wire): OnnxDimension {
  const d: OnnxDimension = {};
  fields(wire, (n, type) => {
    // dim_value and dim_param are a oneof: the last one set wins.
    if (n === 1 && type === VARINT) {
      d.dim_value = wire.varint();
      delete d.dim_param;
    } else if (n === 2 && type === LENGTH) {
      d.dim_param = wire.string();
      delete d.dim_value;
    } else return false;
    return true;
  });
  return d;
}

function valueInfo(wire: Wire): OnnxValueInfo {
  const v: OnnxValueInfo = { name: '', elem_type: 0, dims: undefined };
  const shape = (w: Wire): void =>
    fields(w, (n, type) => {
      if (n !== 1 || type !== LENGTH) return false;
      (v.dims ??= []).push(w.message(dimension));
      return true;
    });
  const tensorType = (w: Wire): void =>
    fields(w, (n, type) => {
      if (n === 1 && type === VARINT) v.elem_type = w.varint();
      else if (n === 2 && type === LENGTH) {
        v.dims = [];
        w.message(shape);
      } else return false;
      return true;
    });
  const typeProto = (w: Wire): void =>
    fields(w, (n, type) => {
      if (n !== 1 || type !== LENGTH) return false;
      w.message(tensorType);
      return true;
    });
  fields(wire, (n, type) => {
    if (n === 1 && type === LENGTH) v.name = wire.string();
    else if (n === 2 && type === LENGTH) wire.message(typeProto);
    else return false;
    return true;
  });
  return v;
}

function graph(wire: Wire): OnnxGraph {
  const g: OnnxGraph = { node: [], initializer: [], input: [], output: [] };
  fields(wire, (n, type) => {
    if (type !== LENGTH) return false;
    if (n === 1) g.node.push(wire.message(node));
    else if (n === 5) g.initializer.push(wire.message(tensor));
    else if (n === 11) g.input.push(wire.message(valueInfo));
    else if (n === 12) g.output.push(wire.message(valueInfo));
    else return false;
    return true;
  });
  return g;
}

function opset(wire: Wire): { domain: string; version: number } {
  const o = { domain: '', version: 0 };
  fields(wire, (n, type) => {
    if (n === 1 && type === LENGTH) o.domain = wire.string();
    else if (n === 2 && type === VARINT) o.version = wire.varint();
    else return false;
    return true;
  });
  return o;
}

/**
 * Decodes what the FLOP counter reads of an ONNX model: opsets, and the graph's nodes,
 * initializers, inputs and outputs. Other fields are skipped; tensors' `raw_data` are views
 * into `bytes`, not copies. Throws a plain Error when the bytes are not a well-formed protobuf.
 */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const wire = new Wire(buffer, 0, buffer.byteLength);
  const model: OnnxModel = { opset_import: [], graph: null };
  fields(wire, (n, type) => {
    if (type !== LENGTH) return false;
    if (n === 7) model.graph = wire.message(graph);
    else if (n === 8) model.opset_import.push(wire.message(opset));
    else return false;
    return true;
  });
  return model;
}
