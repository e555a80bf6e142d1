// A model folder as one canonical tar archive: sorted regular files, fixed metadata, hashed.

import { archivePathProblem, createError, MAX_ARCHIVE_ENTRIES, TAR_BLOCK, tarHeader, tarPadding, tfjsFormatOf, type ModelFormat } from '@eais/shared';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** A file of the folder, by its archive path. */
interface PackedFile {
  readonly path: string;
  readonly absolute: string;
  readonly size: number;
}

/** A folder ready to stream as an archive. */
export interface PackedFolder {
  readonly format: ModelFormat;
  readonly sha256: string;
  readonly sizeBytes: number;
  chunks(): AsyncIterable<Uint8Array>;
}

async function walk(root: string, relative = ''): Promise<PackedFile[]> {
  const files: PackedFile[] = [];
  for (const entry of await readdir(join(root, relative), { withFileTypes: true })) {
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) {
      files.push(...(await walk(root, path)));
    } else if (entry.isFile()) {
      const problem = archivePathProblem(path);
      if (problem !== undefined) throw createError('BAD_REQUEST', `model folder file "${path}" cannot be archived: ${problem}`);
      files.push({ path, absolute: join(root, path), size: (await stat(join(root, path))).size });
    } else {
      throw createError(
        'BAD_REQUEST',
        `model folder entry "${path}" is ${entry.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; model folders hold regular files only (copy the file in)`,
      );
    }
  }
  return files;
}

/** The format of a model folder: TF.js graph or layers (model.json), or SavedModel. */
async function folderFormat(dir: string, files: readonly PackedFile[]): Promise<ModelFormat> {
  if (files.some((f) => f.path === 'model.json')) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    } catch (err) {
      throw createError('BAD_REQUEST', `${join(dir, 'model.json')} is not valid JSON (${(err as Error).message})`);
    }
    const format = tfjsFormatOf(json);
    if (format === undefined) {
      throw createError('BAD_REQUEST', `${join(dir, 'model.json')} is neither a TF.js graph model nor a layers model (no "format")`);
    }
    return format;
  }
  if (files.some((f) => f.path === 'saved_model.pb')) return 'saved-model';
  throw createError('BAD_REQUEST', `"${dir}" holds neither model.json (TF.js) nor saved_model.pb (SavedModel)`);
}

async function* stream(files: readonly PackedFile[]): AsyncGenerator<Uint8Array> {
  for (const file of files) {
    yield tarHeader(file.path, file.size);
    let sent = 0;
    for await (const chunk of createReadStream(file.absolute, { highWaterMark: 1024 * 1024 })) {
      sent += (chunk as Buffer).byteLength;
      yield chunk as Buffer;
    }
    if (sent !== file.size) throw createError('BAD_REQUEST', `model file "${file.path}" changed while it was being read; try again`);
    const padding = tarPadding(file.size);
    if (padding > 0) yield new Uint8Array(padding);
  }
  yield new Uint8Array(2 * TAR_BLOCK);
}

/**
 * Packs a model folder. Files are sorted by path (UTF-8 byte order) and get canonical
 * headers, so the same folder always hashes to the same sha256. INVALID_ARGUMENT
 * (BAD_REQUEST) for links, unarchivable names, too many files, or no model in it.
 */
export async function packFolder(dir: string): Promise<PackedFolder> {
  const files = (await walk(dir)).sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  if (files.length > MAX_ARCHIVE_ENTRIES) {
    throw createError('BAD_REQUEST', `model folder "${dir}" holds ${files.length} files; at most ${MAX_ARCHIVE_ENTRIES} fit in a model archive`);
  }
  const format = await folderFormat(dir, files);
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream(files)) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { format, sha256: hash.digest('hex'), sizeBytes: size, chunks: () => stream(files) };
}
