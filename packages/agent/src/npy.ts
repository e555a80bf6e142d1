// NumPy .npy files: read a tensor for `eais infer`, write outputs back (little-endian, C order).

import { dtypeFromNpy, dtypeInfo, elementCount, typedView, type Tensor } from '@eais/shared';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parses a .npy file. Throws an Error naming `what` when it is not one eais can read. */
export function parseNpy(bytes: Uint8Array, what: string): Tensor {
  if (bytes.byteLength < 10 || !MAGIC.every((b, i) => bytes[i] === b)) throw new Error(`${what} is not a .npy file`);
  const major = bytes[6] ?? 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new Error(`${what}: malformed .npy header`);
  if (fortran === 'True') throw new Error(`${what}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const info = dtypeFromNpy(descr);
  if (info === undefined) throw new Error(`${what}: .npy dtype ${descr} is not supported (little-endian numeric and bool only)`);
  const dims = shapeText
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '')
    .map(Number);
  const count = elementCount(dims, what);
  const data = bytes.subarray(headerStart + headerLength);
  if (data.byteLength !== count * info.size) {
    throw new Error(`${what}: ${data.byteLength} bytes of data, but shape (${dims.join(', ')}) of ${descr} needs ${count * info.size}`);
  }
  return { dtype: info.dtype, dims, data: typedView(info, data, count) };
}

/** Encodes a tensor as a version 1.0 .npy file. */
export function formatNpy(tensor: Tensor): Buffer {
  const info = dtypeInfo(tensor.dtype);
  if (info === undefined) throw new Error(`dtype ${tensor.dtype} has no .npy form`);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${info.npy}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Magic, version and length take 10 bytes; pad so the data starts 64-byte aligned.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = `${header}${' '.repeat(total - 10 - header.length - 1)}\n`;
  const prefix = Buffer.alloc(10);
  prefix.set(MAGIC);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const { buffer, byteOffset, byteLength } = tensor.data;
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(buffer, byteOffset, byteLength)]);
}
