/**
 * Export: a sealed layer as an OCI changeset tar, plain, gzip or zstd, whose uncompressed bytes
 * hash to the layer's diffId, so `layer create` of the export on another store gives the same
 * chainId. Two sources of the same bytes:
 *
 *  - a layer imported from a tar has a tar-split record (tar/tar-split.ts): its raw header bytes
 *    replayed with each file's content read from the diff dir reproduce the original archive byte
 *    for byte, whatever tool wrote it;
 *  - any other layer (sealed from an open layer, committed, a diff layer) got its diffId from the
 *    deterministic packer over its diff dir (tar/tar-packer.ts), which writes the same bytes again.
 *
 * A compressed export of a layer imported from a compressed archive is that archive, kept as a
 * blob in the content store (layer-export-blob.ts), so its digest is the original one.
 *
 * Either way the stream is hashed as it goes and checked against the diffId at the end, so a layer
 * whose files changed on disk is caught (DIGEST_MISMATCH) instead of exported. Memory stays
 * bounded: nothing is buffered beyond a chunk.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { LayerRow } from '../db/layer-queries.js';
import { ShibafuError, errnoCode, fromSystemError, isShibafuError } from '../errors.js';
import { isResolveRefusal, openBeneath } from '../sys/openat2.js';
import { fsyncDir } from '../sys/sync.js';
import type { DiffId, Digest } from '../ids.js';
import { LAYER_MEDIA_TYPES, type Compression } from '../tar/layer-source.js';
import { packLayer } from '../tar/tar-packer.js';
import { readTarSplit } from '../tar/tar-split.js';
import { zstdStream } from '../sys/zstd-process.js';
import { verifyBlob } from '../content/blob-reader.js';
import { exportStoredBlob, storedBlobOf } from './layer-export-blob.js';
import type { StoreContext } from './store-context.js';
import { packTreeChangesSync } from '../changes/pack-tree-changes.js';
import { digestedExport } from './digested-export.js';
import { chunksOf } from './dir-layer-write.js';

export interface ExportOptions {
  readonly compression?: Compression;
  readonly signal?: AbortSignal;
  /**
   * Called as the uncompressed tar streams, with its bytes so far; `phase` is 'verify' during the
   * hash-only pass a stream export makes before its first byte (see writeLayerExport).
   */
  readonly onProgress?: (tarBytes: number, phase: 'verify' | 'write') => void;
}

export interface ExportResult {
  readonly chainId: string;
  readonly diffId: DiffId;
  /** Bytes of the uncompressed tar. */
  readonly tarSize: number;
  readonly compression: Compression;
  readonly mediaType: string;
  /** sha256 of the bytes written (the blob digest an OCI manifest would list). */
  readonly digest: Digest;
  /** Bytes written. */
  readonly size: number;
  /** Where the bytes came from: the import's tar-split record, the deterministic packer, or the archive kept as a blob. */
  readonly source: 'tar-split' | 'packer' | 'blob';
}

export interface LayerExport {
  /** The bytes to write; throws DIGEST_MISMATCH at the end when the tar does not hash to the diffId. */
  readonly chunks: AsyncIterable<Buffer>;
  /** Available once `chunks` is drained. */
  result(): ExportResult;
}

const CHUNK = 1 << 20;

/**
 * Streams a sealed layer's export.
 *
 * @example
 * const exp = exportLayer(ctx, layer, { compression: 'gzip' });
 * for await (const chunk of exp.chunks) out.write(chunk);
 * exp.result().digest
 */
export function exportLayer(ctx: StoreContext, layer: LayerRow, options: ExportOptions = {}): LayerExport {
  assertSealed(layer);
  const compression = options.compression ?? 'none';
  const source = layer.tarSplit ? 'tar-split' : 'packer';
  const tar = layerTar(ctx, layer, options.signal);
  let tarSize = 0;
  const checked = verified(tar, layer.diffId, (n) => { tarSize = n; options.onProgress?.(n, 'write'); });
  const compressed = compression === 'none' ? checked : compression === 'gzip' ? gzip(checked) : zstdStream(checked, 'compress');
  return digestedExport(compressed, (digest, size) => ({
    chainId: layer.chainId as string, diffId: layer.diffId as DiffId, tarSize, compression,
    mediaType: LAYER_MEDIA_TYPES[compression], digest, size, source,
  }));
}

function assertSealed(layer: LayerRow): asserts layer is LayerRow & { chainId: NonNullable<LayerRow['chainId']>; diffId: DiffId } {
  if (layer.state !== 'sealed' || layer.chainId === null || layer.diffId === null) {
    throw new ShibafuError('LAYER_OPEN', 'Cannot export an open layer: its content has no address yet', {
      hint: 'Seal it first: shibafu layer seal NAME',
    });
  }
}

/**
 * The layer's OCI tar as it exports, unchecked (the caller hashes it): its tar-split replayed, or
 * its changes packed.
 *
 * @example
 * for await (const chunk of layerTar(ctx, layer, undefined)) hash.update(chunk);
 */
export function layerTar(ctx: StoreContext, layer: LayerRow, signal: AbortSignal | undefined): AsyncIterable<Buffer> {
  const chainId = layer.chainId as NonNullable<LayerRow['chainId']>;
  const changeset = ctx.snapshots.changeset(chainId);
  // An imported layer's own files are at their paths in either format (a changeset, or the whole
  // tree of a btrfs or zfs snapshot): its tar-split record replays the archive from them.
  if (layer.tarSplit) return replayTarSplit(ctx.layout.tarSplitIn(ctx.layout.layerDir(chainId)), changeset.dir, signal);
  if (changeset.format === 'dir') return iterate(packTreeChangesSync(changeset.parentDir ?? ctx.layout.empty, changeset.dir, { xattrs: ctx.ports, ...(signal !== undefined ? { signal } : {}) }));
  return packLayer(changeset.dir, { xattrs: { list: (p) => ctx.ports.llistxattr(p), get: (p, n) => ctx.ports.lgetxattr(p, n) }, ...(signal !== undefined ? { signal } : {}) });
}

/** A synchronous generator's chunks as an async iterable. */
async function* iterate(gen: Generator<Buffer, unknown, undefined>): AsyncIterable<Buffer> {
  yield* chunksOf(gen);
}

/**
 * Reads the whole layer tar once, hashing only, and throws DIGEST_MISMATCH (or LAYER_TAMPERED)
 * when it does not give the diffId. Nothing is written.
 *
 * @example
 * await verifyLayerExport(ctx, layer);
 */
export async function verifyLayerExport(ctx: StoreContext, layer: LayerRow, options: ExportOptions = {}): Promise<void> {
  assertSealed(layer);
  for await (const chunk of verified(layerTar(ctx, layer, options.signal), layer.diffId as DiffId, (n) => options.onProgress?.(n, 'verify'))) {
    void chunk;
  }
}

/** Where an export goes: a file (written beside it, renamed into place on success) or a stream. */
export type ExportTarget = { readonly file: string } | { readonly stream: Writable };

/**
 * Writes a layer's export to a file or a stream. A file is written to a temporary name in the
 * same directory and renamed over `file` only once the digest checked out: a failed export leaves
 * no file (and an existing one untouched). A stream cannot be taken back, so the layer is first
 * read once without writing (hash only) and the export fails before its first byte when the files
 * changed: that costs a second read of the layer, which podman and containerd users expect a
 * failed export to be worth (a pipe into `layer create` on another host must not start on bad
 * data). Only a file changed between the two passes can still fail the export midway; its error
 * says the bytes written are invalid. The stream is written with backpressure and not ended.
 *
 * @example
 * await writeLayerExport(ctx, layer, { file: '/tmp/app.tar.zst' }, { compression: 'zstd' });
 */
export async function writeLayerExport(ctx: StoreContext, layer: LayerRow, target: ExportTarget, options: ExportOptions = {}): Promise<ExportResult> {
  assertSealed(layer);
  // A compressed archive the layer was imported from is kept as a blob: its bytes, not a new
  // compression, are the export (layer-export-blob.ts).
  const blob = storedBlobOf(ctx, layer, options.compression ?? 'none');
  const start = (): LayerExport => (blob !== null ? exportStoredBlob(ctx, layer, blob, options) : exportLayer(ctx, layer, options));
  if ('stream' in target) {
    if (blob !== null) await verifyBlob(ctx, blob.digest, options.signal === undefined ? {} : { signal: options.signal });
    else await verifyLayerExport(ctx, layer, options);
    return writeToStream(start(), target.stream);
  }
  const exp = start();
  const tmp = join(dirname(target.file), `.${basename(target.file)}.shibafu-${randomBytes(6).toString('hex')}`);
  let handle;
  try {
    handle = await open(tmp, 'wx', 0o644);
  } catch (err) {
    throw fromSystemError(err, `write "${target.file}"`);
  }
  let renamed = false;
  try {
    for await (const chunk of exp.chunks) await handle.write(chunk);
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(tmp, target.file);
    renamed = true;
    fsyncDir(dirname(target.file));
    return exp.result();
  } catch (err) {
    throw fromSystemError(err, `write "${target.file}"`);
  } finally {
    await handle?.close().catch(() => {});
    if (!renamed) await unlink(tmp).catch(() => {});
  }
}

async function writeToStream(exp: LayerExport, stream: Writable): Promise<ExportResult> {
  // A reader that goes away (EPIPE) fails the export instead of crashing the process.
  let failed: unknown = null;
  let written = 0;
  const onError = (err: unknown): void => { failed ??= err; };
  stream.on('error', onError);
  try {
    for await (const chunk of exp.chunks) {
      if (failed !== null) break;
      written += chunk.length;
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
  } catch (err) {
    if (written > 0 && (isShibafuError(err, 'DIGEST_MISMATCH') || isShibafuError(err, 'LAYER_TAMPERED'))) {
      throw new ShibafuError(err.code, `${err.message}; the layer changed while it was exported and the ${written} bytes already written are not a valid layer archive: discard them`, {
        ...(err.hint !== undefined ? { hint: err.hint } : {}),
        details: { ...err.details, bytesWritten: written },
        cause: err,
      });
    }
    throw err;
  } finally {
    stream.off('error', onError);
  }
  if (failed !== null) throw fromSystemError(failed, 'write the layer archive');
  return exp.result();
}

/** Hashes the tar as it passes and compares with the diffId after the last byte. */
async function* verified(tar: AsyncIterable<Buffer>, diffId: DiffId, progress: (bytes: number) => void): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of tar) {
    hash.update(chunk);
    bytes += chunk.length;
    progress(bytes);
    yield chunk;
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== diffId) {
    throw new ShibafuError('DIGEST_MISMATCH', `Cannot export layer: its files no longer match its diffId (the tar hashes to ${got}, the layer is ${diffId})`, {
      hint: 'A file in the layer\'s diff directory was changed on disk behind shibafu. Re-create the layer from its source (`shibafu layer rm`, then `layer create`).',
      details: { expected: diffId, actual: got },
    });
  }
}

/**
 * The original archive again: raw bytes from the record, file contents from the diff dir. Each
 * file must still have the size the archive gave it (a sparse file its real size); a changed size
 * fails at once (DIGEST_MISMATCH).
 *
 * @example
 * for await (const chunk of replayTarSplit(layout.tarSplitIn(dir), layout.diffIn(dir))) hash.update(chunk);
 */
export async function* replayTarSplit(record: string, diffDir: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  // readTarSplit pipes a file stream into gunzip, which does not pass an open error on: check first.
  const missing = !existsSync(record);
  let rootFd = -1;
  // The sparse file whose segments are being read: its records come one after another.
  let sparse = null as { readonly path: string; readonly fd: number } | null;
  try {
    if (missing) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
    rootFd = openSync(diffDir, constants.O_RDONLY | constants.O_DIRECTORY);
    for await (const r of readTarSplit(record)) {
      signal?.throwIfAborted();
      if (r.kind === 'raw') {
        yield r.bytes;
      } else if (r.kind === 'file') {
        const fd = openContent(rootFd, r.path, r.size);
        try {
          yield* readContent(fd, r.path, 0, r.size);
        } finally {
          closeSync(fd);
        }
      } else {
        if (sparse === null || sparse.path !== r.path) {
          if (sparse !== null) closeSync(sparse.fd);
          sparse = null;
          sparse = { path: r.path, fd: openContent(rootFd, r.path, r.fileSize) };
        }
        yield* readContent(sparse.fd, r.path, r.offset, r.size);
      }
    }
  } catch (err) {
    if (err instanceof ShibafuError || (err instanceof Error && err.name === 'AbortError')) throw err;
    throw new ShibafuError('STORE_CORRUPT', `Cannot read the tar-split record ${record}: ${errnoCode(err) ?? String(err)}`, {
      hint: 'The record that reproduces the imported archive is missing or damaged. Re-create the layer from its archive.',
      cause: err,
    });
  } finally {
    if (sparse !== null) closeSync(sparse.fd);
    if (rootFd >= 0) closeSync(rootFd);
  }
}

/** Opens a file of the layer whose content the record names, checking it still has `size` bytes. */
function openContent(rootFd: number, rel: string, size: number): number {
  // The record's paths come from the imported archive; the diff dir may have been changed since.
  // O_NOFOLLOW on the last component is not enough: a directory on the way replaced by a symlink
  // would read a file outside the layer. openBeneath refuses any symlink in any component.
  let fd: number;
  try {
    fd = openBeneath(rootFd, rel);
  } catch (err) {
    if (isResolveRefusal(err)) throw tampered(rel, err);
    throw mismatch(rel, `it cannot be opened (${fromSystemError(err, 'open').message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== size) throw mismatch(rel, `it has ${st.isFile() ? `${st.size} bytes` : 'another type'}, the archive had ${size} bytes`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** `size` bytes of `fd` from `offset` (a hole reads as zeros, as the archive stored it). */
function* readContent(fd: number, rel: string, offset: number, size: number): Generator<Buffer> {
  for (let pos = 0; pos < size;) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
    const n = readSync(fd, buf, 0, buf.length, offset + pos);
    if (n === 0) throw mismatch(rel, `it ended after ${offset + pos} of ${offset + size} bytes`);
    pos += n;
    yield n === buf.length ? buf : buf.subarray(0, n);
  }
}

function tampered(rel: string, cause: unknown): ShibafuError {
  return new ShibafuError('LAYER_TAMPERED', `Cannot export layer: the path of file "/${rel}" crosses a symlink or leads out of the layer directory`, {
    hint: 'A directory in the layer\'s diff directory was replaced by a symlink behind shibafu; nothing outside the layer was read. Re-create the layer from its source.',
    details: { path: `/${rel}` },
    cause,
  });
}

function mismatch(rel: string, what: string): ShibafuError {
  return new ShibafuError('DIGEST_MISMATCH', `Cannot export layer: file "/${rel}" changed on disk: ${what}`, {
    hint: 'A file in the layer\'s diff directory was changed behind shibafu. Re-create the layer from its source.',
    details: { path: `/${rel}` },
  });
}

/**
 * gzip through node:zlib (in libuv's thread pool). zlib writes a fixed header (mtime 0, OS 3) and
 * the same deflate stream for the same input, level and zlib version: deterministic.
 */
async function* gzip(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const z = createGzip({ chunkSize: CHUNK });
  const src = Readable.from(input);
  src.on('error', (err) => z.destroy(err));
  src.pipe(z);
  try {
    for await (const chunk of z) yield chunk as Buffer;
  } finally {
    src.destroy();
    z.destroy();
  }
}
