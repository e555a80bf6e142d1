// Model archives on the daemon: every entry checked before any is written, then extracted.

import {
  archivePathProblem,
  createError,
  isZeroBlock,
  MAX_ARCHIVE_ENTRIES,
  parseTarHeader,
  TAR_BLOCK,
  tarPadding,
  tfjsFormatOf,
  type ModelFormat,
} from '@eais/shared';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, join, posix, resolve, sep } from 'node:path';

/** A checked entry: where its bytes lie in the archive. */
interface Entry {
  readonly path: string;
  readonly offset: number;
  readonly size: number;
}

const TYPE_NAMES: Record<string, string> = { '1': 'a hard link', '2': 'a symbolic link', '5': 'a directory', x: 'a pax header', g: 'a pax header', L: 'a GNU long name' };
const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

function bad(message: string): Error {
  return createError('BAD_REQUEST', `model archive rejected, nothing was stored: ${message}`);
}

async function readAt(handle: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, offset);
  return buffer.subarray(0, bytesRead);
}

/** Reads and checks every header; returns the entries. Nothing is written. */
async function listEntries(handle: FileHandle, archiveSize: number, maxBytes: number): Promise<Entry[]> {
  const entries: Entry[] = [];
  const seen = new Set<string>();
  const folders = new Set<string>();
  let offset = 0;
  let total = 0;
  for (;;) {
    if (offset + TAR_BLOCK > archiveSize) throw bad('the archive ends without its end-of-archive blocks');
    const block = await readAt(handle, offset, TAR_BLOCK);
    if (isZeroBlock(block)) break;
    let header;
    try {
      header = parseTarHeader(block);
    } catch (err) {
      throw bad(`the header at byte ${offset} is malformed (${(err as Error).message})`);
    }
    const what = `entry "${header.path.slice(0, 300)}"`;
    if (header.typeflag !== '0') {
      throw bad(`${what} is ${TYPE_NAMES[header.typeflag] ?? `of type '${header.typeflag}'`}; model archives hold regular files only`);
    }
    const problem = archivePathProblem(header.path);
    if (problem !== undefined) throw bad(`${what}: ${problem}`);
    if (seen.has(header.path)) throw bad(`${what} appears twice`);
    // A file may not also be a folder of another entry (`a` and `a/b`), in either order.
    const parts = header.path.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const folder = parts.slice(0, i).join('/');
      if (seen.has(folder)) throw bad(`${what} lies inside "${folder.slice(0, 300)}", which is a file of the archive`);
      folders.add(folder);
    }
    if (folders.has(header.path)) throw bad(`${what} is a file, but other entries lie inside it`);
    seen.add(header.path);
    const dataOffset = offset + TAR_BLOCK;
    if (dataOffset + header.size + tarPadding(header.size) > archiveSize) {
      throw bad(`${what} declares ${header.size} bytes but the archive ends first`);
    }
    total += header.size;
    if (total > maxBytes) throw bad(`the entries hold more than the ${maxBytes}-byte limit`);
    entries.push({ path: header.path, offset: dataOffset, size: header.size });
    if (entries.length > MAX_ARCHIVE_ENTRIES) throw bad(`more than ${MAX_ARCHIVE_ENTRIES} entries`);
    offset = dataOffset + header.size + tarPadding(header.size);
  }
  // After the first zero block: zeros only (the second marker block and any padding).
  for (let at = offset; at < archiveSize; at += 64 * 1024) {
    if (!isZeroBlock(await readAt(handle, at, Math.min(64 * 1024, archiveSize - at)))) {
      throw bad(`bytes follow the end-of-archive marker at byte ${offset}`);
    }
  }
  if (entries.length === 0) throw bad('the archive holds no files');
  return entries;
}

/** Checks what the declared format needs: model.json and every weight shard it names, or saved_model.pb. */
async function checkModel(handle: FileHandle, entries: readonly Entry[], format: ModelFormat): Promise<void> {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  if (format === 'saved-model') {
    if (!byPath.has('saved_model.pb')) throw bad('a SavedModel archive needs saved_model.pb at its root');
    return;
  }
  const modelJson = byPath.get('model.json');
  if (modelJson === undefined) throw bad(`a ${format} archive needs model.json at its root`);
  if (modelJson.size > MAX_MODEL_JSON_BYTES) throw bad('model.json is larger than 64 MiB');
  let json: { weightsManifest?: { paths?: unknown }[] };
  try {
    json = JSON.parse((await readAt(handle, modelJson.offset, modelJson.size)).toString('utf8')) as typeof json;
  } catch (err) {
    throw bad(`model.json is not valid JSON (${(err as Error).message})`);
  }
  const declared = tfjsFormatOf(json);
  if (declared !== format) throw bad(`model.json describes ${declared ?? 'no TF.js model'}, but the upload declared ${format}`);
  const manifest = Array.isArray(json.weightsManifest) ? json.weightsManifest : [];
  for (const group of manifest) {
    const paths = Array.isArray(group.paths) ? group.paths : [];
    for (const path of paths) {
      if (typeof path !== 'string') throw bad('model.json names a weight path that is not a string');
      const resolved = posix.normalize(path);
      if (resolved.startsWith('../') || resolved === '..' || posix.isAbsolute(resolved)) {
        throw bad(`model.json names weight file "${path}", which lies outside the archive`);
      }
      if (!byPath.has(resolved)) throw bad(`model.json names weight file "${path}", which the archive does not hold`);
    }
  }
}

/**
 * Checks a model archive completely (headers, checksums, paths, types, sizes, end marker,
 * and the files the format needs), then, only if all is well, extracts it into `into` (not
 * synced: the store syncs what it keeps). INVALID_ARGUMENT (BAD_REQUEST) naming the first
 * problem; nothing is written then.
 */
export async function unpackArchive(archive: string, into: string, format: ModelFormat, maxBytes: number): Promise<number> {
  const handle = await open(archive, 'r');
  try {
    const { size } = await handle.stat();
    const entries = await listEntries(handle, size, maxBytes);
    await checkModel(handle, entries, format);
    const root = resolve(into);
    let total = 0;
    for (const entry of entries) {
      const target = resolve(root, entry.path);
      if (!target.startsWith(root + sep)) throw bad(`entry "${entry.path}" would land outside the model folder`);
      await mkdir(dirname(target), { recursive: true });
      const out = await open(target, 'wx');
      try {
        for (let done = 0; done < entry.size; ) {
          const chunk = await readAt(handle, entry.offset + done, Math.min(1024 * 1024, entry.size - done));
          await out.write(chunk);
          done += chunk.byteLength;
        }
      } finally {
        await out.close();
      }
      total += entry.size;
    }
    return total;
  } finally {
    await handle.close();
  }
}

/** The folder a format's engines load: the model file for ONNX, the folder for archives. */
export function modelPath(folder: string, format: ModelFormat): string {
  return format === 'onnx' ? join(folder, 'model.onnx') : join(folder, 'model');
}
