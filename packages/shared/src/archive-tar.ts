// Model archives: the canonical tar (ustar) form a model folder travels in, and its headers.

/** Tar works in 512-byte blocks. */
export const TAR_BLOCK = 512;

/** What one header says. */
export interface TarHeader {
  readonly path: string;
  readonly size: number;
  /** The typeflag byte: '0' regular file, '5' directory, '1' hard link, '2' symlink, … */
  readonly typeflag: string;
  readonly linkname: string;
}

/** Options of {@link tarHeader}; canonical archives use neither. */
export interface TarHeaderOptions {
  readonly typeflag?: string;
  readonly linkname?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function writeString(block: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new Error(`tar field of ${length} bytes cannot hold "${text}"`);
  block.set(bytes, offset);
}

function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  writeString(block, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

function readString(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

function readOctal(block: Uint8Array, offset: number, length: number, what: string): number {
  const text = readString(block, offset, length).trim();
  if (!/^[0-7]+$/.test(text)) throw new Error(`${what} field "${text}" is not an octal number`);
  const value = Number.parseInt(text, 8);
  if (!Number.isSafeInteger(value)) throw new Error(`${what} ${text} is too large`);
  return value;
}

function checksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i += 1) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return sum;
}

/** Splits a path into ustar's prefix (≤155 bytes) and name (≤100 bytes) at a '/'. */
function splitPath(path: string): [prefix: string, name: string] {
  if (encoder.encode(path).length <= 100) return ['', path];
  for (let cut = path.lastIndexOf('/'); cut > 0; cut = path.lastIndexOf('/', cut - 1)) {
    const prefix = path.slice(0, cut);
    const name = path.slice(cut + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100) return [prefix, name];
  }
  throw new Error(`path "${path}" is too long for a model archive (at most 100 bytes per name, 255 in all)`);
}

/**
 * The canonical header of a regular file: mode 0644, owner 0, mtime 0, no user names, so
 * the same folder always packs to the same bytes.
 */
export function tarHeader(path: string, size: number, options: TarHeaderOptions = {}): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0 || size >= 8 ** 11) throw new Error(`file "${path}" of ${size} bytes cannot be archived`);
  const block = new Uint8Array(TAR_BLOCK);
  const [prefix, name] = splitPath(path);
  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, 0);
  writeString(block, 156, 1, options.typeflag ?? '0');
  writeString(block, 157, 100, options.linkname ?? '');
  writeString(block, 257, 6, 'ustar\0');
  writeString(block, 263, 2, '00');
  writeString(block, 345, 155, prefix);
  writeString(block, 148, 8, `${checksum(block).toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** Bytes of padding after `size` bytes of data, up to the next block. */
export function tarPadding(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}

/** Whether a block is all zeros (the end-of-archive marker is two of them). */
export function isZeroBlock(block: Uint8Array): boolean {
  return block.every((b) => b === 0);
}

/**
 * Parses one header block. Throws an Error saying what is wrong: not ustar, bad checksum,
 * malformed numbers. It does not judge the path or the type; callers do.
 */
export function parseTarHeader(block: Uint8Array): TarHeader {
  if (block.length !== TAR_BLOCK) throw new Error('truncated header');
  if (readString(block, 257, 6).trimEnd() !== 'ustar') throw new Error('not a ustar header');
  const stored = readOctal(block, 148, 8, 'checksum');
  if (stored !== checksum(block)) throw new Error('header checksum does not match');
  const name = readString(block, 0, 100);
  const prefix = readString(block, 345, 155);
  return {
    path: prefix === '' ? name : `${prefix}/${name}`,
    size: readOctal(block, 124, 12, 'size'),
    typeflag: String.fromCharCode(block[156] ?? 0) === '\0' ? '0' : String.fromCharCode(block[156] ?? 0),
    linkname: readString(block, 157, 100),
  };
}

/** Most entries a model archive may hold. */
export const MAX_ARCHIVE_ENTRIES = 10_000;

/**
 * Why a path may not stand in a model archive, or undefined when it may: paths are
 * relative, '/'-separated, without empty, '.' or '..' segments, backslashes, NUL or drive
 * letters, at most 255 bytes.
 */
export function archivePathProblem(path: string): string | undefined {
  if (path === '') return 'the path is empty';
  if (encoder.encode(path).length > 255) return 'the path is longer than 255 bytes';
  if (path.includes('\0')) return 'the path holds a NUL byte';
  if (path.includes('\\')) return 'the path holds a backslash';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'the path is absolute';
  const segments = path.split('/');
  if (segments.includes('..')) return 'the path climbs out with ".."';
  if (segments.some((s) => s === '' || s === '.')) return 'the path has an empty or "." segment';
  return undefined;
}
