// Model store: models on disk, content-addressed by sha256, written whole or not at all.

import { createError, formatBytes, isArchiveFormat, isModelFormat, MODEL_FORMATS, type ModelFormat } from '@eais/shared';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unpackArchive } from './model-archive.js';

/** A model in the store. */
export interface StoredModel {
  readonly sha256: string;
  readonly format: ModelFormat;
  /** Bytes uploaded (the file, or the archive). */
  readonly sizeBytes: number;
  /** Bytes of the model's files as engines read them (the file, or the unpacked folder). */
  readonly weightsBytes: number;
  /** The model file (ONNX) or folder (TF.js, SavedModel). */
  readonly path: string;
}

/** What an upload declares before its bytes. */
export interface UploadDeclaration {
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly format: string;
}

/** The outcome of an upload. */
export interface UploadResult {
  readonly model: StoredModel;
  /** True when the store had the digest already; the bytes were read and dropped. */
  readonly alreadyStored: boolean;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** In a model folder while its files are not yet synced to disk. */
const UNSYNCED = 'unsynced';
/** Names of derived files: the producer and its version, e.g. `onnx-v1.onnx` (never an upload's own file). */
const DERIVED_NAME = /^[a-z][a-z0-9]*-v\d+\.[a-z]+$/;

/**
 * Reads an upload's chunks, handing each to `write`, and checks that exactly `size` bytes
 * came and that they hash to `sha256`. UPLOAD_INCOMPLETE, DIGEST_MISMATCH otherwise.
 */
async function verify(chunks: AsyncIterable<Uint8Array>, sha256: string, size: number, write?: (chunk: Uint8Array) => Promise<unknown>): Promise<void> {
  const hash = createHash('sha256');
  let received = 0;
  for await (const chunk of chunks) {
    received += chunk.byteLength;
    if (received > size) {
      throw createError('UPLOAD_INCOMPLETE', `the upload sent more than the ${size} bytes its header declared; nothing was stored`);
    }
    hash.update(chunk);
    await write?.(chunk);
  }
  if (received < size) {
    throw createError('UPLOAD_INCOMPLETE', `the upload ended after ${received} of ${size} declared bytes; nothing was stored, upload again`);
  }
  const actual = hash.digest('hex');
  if (actual !== sha256) {
    throw createError('DIGEST_MISMATCH', `the uploaded bytes hash to sha256 ${actual}, not the declared ${sha256}; nothing was stored`);
  }
}

/**
 * Flushes a file, or every file under a folder, to disk. Folders are not synced: on ext4
 * and XFS the journal keeps a rename after the entries it moves (not so on every POSIX
 * file system).
 */
async function syncTree(path: string): Promise<void> {
  if (!(await stat(path)).isDirectory()) return syncFile(path);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (entry.isDirectory()) await syncTree(join(path, entry.name));
    else if (entry.isFile()) await syncFile(join(path, entry.name));
  }
}

/** This boot of the host (Linux), or '' where the system does not say. */
async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
}

/** Flushes a file's bytes to disk. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

interface Meta {
  sha256: string;
  format: ModelFormat;
  sizeBytes: number;
  weightsBytes: number;
  /** `model.onnx`, or `model` (the unpacked folder of an archive). */
  file: string;
}

/**
 * Models under `<stateDir>/models/<sha256>/`. An upload is written to `<stateDir>/tmp/`,
 * hashed while it streams, checked and renamed into place, so a model folder holds only
 * bytes that match its name, and can be loaded at once. Its files are synced behind that:
 * until they are, an `unsynced` file in the folder says so, naming the host's boot. A
 * process that dies keeps what it wrote (the kernel has it): at the next start in the same
 * boot, init syncs the folder. After the host went down, init checks each folder still
 * marked: an ONNX file whose bytes hash to the folder's name is kept, anything else is
 * removed (and its model uploaded again), with the other leftovers of a crash.
 */
export class ModelStore {
  readonly #models: string;
  readonly #tmp: string;
  readonly #maxBytes: number;
  readonly #ownerWrites = new Map<string, Promise<void>>();
  /** Syncs of models placed lately. */
  readonly #syncing = new Set<Promise<void>>();
  /** What the `unsynced` mark holds: this boot of the host (see the class). */
  #boot = '';

  /** `onSyncError` hears a placed model whose files could not be synced (it stays marked, for init). */
  constructor(
    stateDir: string,
    maxBytes: number,
    private readonly onSyncError: (sha256: string, err: unknown) => void = () => undefined,
  ) {
    this.#models = join(stateDir, 'models');
    this.#tmp = join(stateDir, 'tmp');
    this.#maxBytes = maxBytes;
  }

  /**
   * Creates the folders and removes what an earlier crash left: partial uploads, and models
   * placed but not synced whose bytes do not check out (see the class).
   */
  async init(): Promise<void> {
    await rm(this.#tmp, { recursive: true, force: true });
    await mkdir(this.#tmp, { recursive: true });
    await mkdir(this.#models, { recursive: true });
    this.#boot = await bootId();
    for (const digest of await readdir(this.#models)) {
      if (!SHA256_HEX.test(digest)) continue;
      const folder = join(this.#models, digest);
      const mark = await readFile(join(folder, UNSYNCED), 'utf8').catch(() => undefined);
      if (mark === undefined) continue;
      // Placed in this boot: only the process died, and the kernel kept every byte it wrote.
      const sameBoot = this.#boot !== '' && mark === this.#boot;
      const meta = sameBoot ? await this.#meta(folder).catch(() => undefined) : await this.#intact(folder, digest);
      if (meta === undefined) {
        await rm(folder, { recursive: true, force: true });
        continue;
      }
      await this.#sync(folder, meta.file).catch((err: unknown) => this.onSyncError(digest, err));
    }
  }

  /** A model folder's record; undefined when it has none. */
  async #meta(folder: string): Promise<Meta | undefined> {
    try {
      return JSON.parse(await readFile(join(folder, 'meta.json'), 'utf8')) as Meta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * The record of a folder placed but not synced before the host went down, when it holds
   * an ONNX file of the folder's digest; undefined otherwise (an unpacked archive cannot be
   * checked: the digest is the archive's).
   */
  async #intact(folder: string, digest: string): Promise<Meta | undefined> {
    try {
      const meta = await this.#meta(folder);
      if (meta?.sha256 !== digest || meta.file !== 'model.onnx') return undefined;
      await verify(createReadStream(join(folder, meta.file)), digest, meta.sizeBytes);
      return meta;
    } catch {
      return undefined;
    }
  }

  /** Syncs a placed model's files and record, then takes its `unsynced` mark away. */
  async #sync(folder: string, file: string): Promise<void> {
    await syncTree(join(folder, file));
    await syncFile(join(folder, 'meta.json'));
    await rm(join(folder, UNSYNCED), { force: true });
  }

  /** Waits for the syncs of models placed so far. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#syncing]);
  }

  /** Normalizes and checks a sha256 argument; INVALID_ARGUMENT (BAD_REQUEST) when malformed. */
  static checkDigest(sha256: string): string {
    const digest = sha256.toLowerCase();
    if (!SHA256_HEX.test(digest)) {
      throw createError('BAD_REQUEST', `sha256 "${sha256.slice(0, 80)}" is not 64 hexadecimal characters`);
    }
    return digest;
  }

  /**
   * The stored model with that digest when `tenant` has sent its bytes itself, else
   * undefined: a tenant can neither load nor learn of another tenant's models.
   */
  async getFor(sha256: string, tenant: string): Promise<StoredModel | undefined> {
    const model = await this.get(sha256);
    if (model === undefined) return undefined;
    return (await this.#owners(model.sha256)).includes(tenant) ? model : undefined;
  }

  /** The models `tenant` has sent, oldest first. */
  async listFor(tenant: string): Promise<StoredModel[]> {
    const digests = await readdir(this.#models).catch(() => [] as string[]);
    const models: StoredModel[] = [];
    for (const digest of digests) {
      if (!SHA256_HEX.test(digest)) continue;
      const model = await this.getFor(digest, tenant);
      if (model !== undefined) models.push(model);
    }
    return models;
  }

  /** Tenants that have sent a model's bytes (none for a model stored before tenants were kept). */
  async #owners(sha256: string): Promise<string[]> {
    try {
      const owners = JSON.parse(await readFile(join(this.#models, sha256, 'owners.json'), 'utf8')) as unknown;
      return Array.isArray(owners) ? owners.filter((o): o is string => typeof o === 'string') : [];
    } catch {
      return [];
    }
  }

  /** Records that `tenant` has sent a model's bytes (atomically: write, sync, rename). */
  async #addOwner(sha256: string, tenant: string): Promise<void> {
    // One update at a time per model, so two tenants finishing together both stay.
    const previous = this.#ownerWrites.get(sha256) ?? Promise.resolve();
    const next = previous.then(async () => {
      const owners = await this.#owners(sha256);
      if (owners.includes(tenant)) return;
      const file = join(this.#models, sha256, 'owners.json');
      const temp = `${file}.${randomBytes(4).toString('hex')}`;
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(JSON.stringify([...owners, tenant]));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
    });
    this.#ownerWrites.set(sha256, next.catch(() => undefined));
    await next;
  }

  /** The stored model with that digest, or undefined, whoever sent it (the daemon's own view). */
  async get(sha256: string): Promise<StoredModel | undefined> {
    const digest = ModelStore.checkDigest(sha256);
    const folder = join(this.#models, digest);
    const meta = await this.#meta(folder);
    if (meta === undefined) return undefined;
    return { sha256: digest, format: meta.format, sizeBytes: meta.sizeBytes, weightsBytes: meta.weightsBytes, path: join(folder, meta.file) };
  }

  /** Path of a file derived from a stored model (see {@link ModelStore.keepDerived}), kept or not. */
  derivedPath(sha256: string, file: string): string {
    if (!DERIVED_NAME.test(file)) throw new Error(`"${file}" is not a derived file's name (producer-v<n>.<ext>)`);
    return join(this.#models, ModelStore.checkDigest(sha256), file);
  }

  /** Removes a file derived from a stored model, if there is one. */
  async dropDerived(sha256: string, file: string): Promise<void> {
    await rm(this.derivedPath(sha256, file), { force: true });
  }

  /**
   * Keeps a file derived from a stored model (a conversion) in the model's folder, whole or
   * not at all: `write` fills a fresh path in the store's tmp folder, which is then synced
   * and renamed into place. A file kept earlier under that name is replaced. Rejects with
   * what `write` threw (nothing is kept then).
   */
  async keepDerived(sha256: string, file: string, write: (path: string) => Promise<void>): Promise<string> {
    return (await this.#placeDerived(sha256, file, write, true)).path;
  }

  /**
   * Like {@link ModelStore.keepDerived}, but renamed into place before it is synced, so a
   * load can read it at once; `synced` resolves once it is on disk. A crash before then can
   * leave the file torn: only for files that something written after `synced` vouches for
   * (a conversion's outcome names the ONNX's size).
   */
  async placeDerived(sha256: string, file: string, write: (path: string) => Promise<void>): Promise<{ path: string; synced: Promise<void> }> {
    return this.#placeDerived(sha256, file, write, false);
  }

  async #placeDerived(sha256: string, file: string, write: (path: string) => Promise<void>, syncFirst: boolean): Promise<{ path: string; synced: Promise<void> }> {
    const target = this.derivedPath(sha256, file);
    const staging = join(this.#tmp, `${sha256.slice(0, 16)}-${randomBytes(6).toString('hex')}-${file}`);
    try {
      await write(staging);
      if (syncFirst) await syncFile(staging);
      await rename(staging, target);
    } finally {
      await rm(staging, { force: true });
    }
    return { path: target, synced: syncFirst ? Promise.resolve() : syncFile(target) };
  }

  /**
   * Stores an upload from `tenant`, who may load the model from then on. Bytes the store
   * holds already are received and verified all the same (then dropped): a digest alone
   * proves nothing. INVALID_ARGUMENT: bad header (BAD_REQUEST), fewer or more bytes than
   * declared (UPLOAD_INCOMPLETE), digest mismatch (DIGEST_MISMATCH); RESOURCE_EXHAUSTED
   * (MODEL_TOO_LARGE) over the size limit. On any failure nothing is kept.
   */
  async receive(declared: UploadDeclaration, chunks: AsyncIterable<Uint8Array>, tenant: string): Promise<UploadResult> {
    const sha256 = ModelStore.checkDigest(declared.sha256);
    if (!isModelFormat(declared.format)) {
      throw createError('BAD_REQUEST', `upload format "${declared.format}" is not one of ${MODEL_FORMATS.join(', ')}`);
    }
    const format = declared.format;
    const archive = isArchiveFormat(format);
    const file = archive ? 'archive.tar' : 'model.onnx';
    const size = declared.sizeBytes;
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw createError('BAD_REQUEST', `upload size_bytes must be a positive whole number, not ${size}`);
    }
    if (size > this.#maxBytes) {
      throw createError(
        'MODEL_TOO_LARGE',
        `the model is ${formatBytes(size)}, over this daemon's limit of ${formatBytes(this.#maxBytes)} (--max-model-size)`,
      );
    }
    const existing = await this.get(sha256);
    if (existing !== undefined) {
      await verify(chunks, sha256, size);
      await this.#addOwner(sha256, tenant);
      return { model: existing, alreadyStored: true };
    }

    const staging = join(this.#tmp, `${sha256.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    await mkdir(staging);
    try {
      const handle = await open(join(staging, file), 'wx');
      try {
        await verify(chunks, sha256, size, (chunk) => handle.write(chunk));
      } finally {
        await handle.close();
      }
      let weightsBytes = size;
      if (archive) {
        weightsBytes = await unpackArchive(join(staging, file), join(staging, 'model'), format, this.#maxBytes);
        await rm(join(staging, file));
      }
      const meta: Meta = { sha256, format, sizeBytes: size, weightsBytes, file: archive ? 'model' : file };
      await writeFile(join(staging, 'meta.json'), JSON.stringify(meta));
      await writeFile(join(staging, UNSYNCED), this.#boot);
      const folder = join(this.#models, sha256);
      let placed = true;
      try {
        await rename(staging, folder);
      } catch (err) {
        // Another upload of the same bytes finished first: theirs is identical.
        if (!['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
        placed = false;
      }
      if (placed) {
        // Synced behind the load (see the class); a failed sync leaves the mark for init.
        const syncing = this.#sync(folder, meta.file).catch((err: unknown) => this.onSyncError(sha256, err));
        this.#syncing.add(syncing);
        void syncing.finally(() => this.#syncing.delete(syncing));
      }
      const model = await this.get(sha256);
      if (model === undefined) throw new Error(`stored model ${sha256} vanished after rename`);
      await this.#addOwner(sha256, tenant);
      return { model, alreadyStored: false };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}
