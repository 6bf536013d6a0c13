/**
 * ExtractTarToLayer: one streaming pass from an archive (file, stdin) or a host directory to a
 * sealed layer. Read → hash blob → decompress → hash diffId → parse → check → convert → write,
 * then one syncfs for the whole staged tree and one transaction that makes it visible.
 */
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { ShibafuError } from '../errors.js';
import type { DiffId, Digest } from '../ids.js';
import { toApplyOp } from '../tar/apply-op.js';
import type { OpApplier } from '../tar/layer-applier.js';
import { LAYER_MEDIA_TYPES, openSource, type Compression } from '../tar/layer-source.js';
import { BlobWriter } from '../content/blob-ingest.js';
import { findLayerOfBlob, nameStoredLayer } from './layer-from-blob.js';
import { TarParser } from '../tar/tar-parser.js';
import { IMAGE_MEMBER_WINDOW, isImageArchiveMember } from '../tar/image-archive-member.js';
import { TarSplitWriter } from '../tar/tar-split.js';
import { commitStagedLayer, discardStagedLayer, makeStagedLayerDir, stagedApplier, syncDir, type CommitResult, type StagedLayerDirs } from './layer-commit.js';
import { copyTree } from './copy-tree.js';
import { EarlyWriteback } from './early-writeback.js';
import { hashLayerDir, type LayerHash } from './layer-hash.js';
import { Staging } from './staging.js';
import type { LayerRow } from '../db/layer-queries.js';
import type { StoreContext } from './store-context.js';
import { applyTarToTreeSync, chunksOf, xattrCheck } from './dir-layer-write.js';
import { packLayerSync } from '../tar/tar-packer.js';

export interface ImportProgress {
  /** Uncompressed bytes read so far. */
  readonly bytes: number;
  readonly entries: number;
}

export interface ImportOptions {
  readonly name: string | null;
  readonly parent: LayerRow | null;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ImportProgress) => void;
  /** The archive's digest as the caller knows it (a registry pull): see `findLayerOfBlob`. */
  readonly expectedDigest?: Digest;
}

function refuseImageArchive(member: string): never {
  throw new ShibafuError('IMAGE_ARCHIVE', `Cannot create a layer from an image archive: it holds "${member}", as OCI layouts and docker-archives do`, {
    hint: 'Load it as an image: shibafu image load ARCHIVE',
  });
}

/**
 * Imports an OCI layer tar (plain, gzip or zstd) from a path or a stream.
 *
 * @example
 * await importTar(ctx, '/tmp/rootfs.tar.gz', { name: 'base', parent: null });
 */
export async function importTar(ctx: StoreContext, source: string | Readable, options: ImportOptions): Promise<CommitResult> {
  const known = await findLayerOfBlob(ctx, source, options);
  const named = known === null ? null : nameStoredLayer(ctx, known, options.name);
  if (named !== null) return named;
  const stage = Staging.create(ctx.layout, 'import', ctx.ports);
  let applier: OpApplier | null = null;
  let staged: StagedLayerDirs | null = null;
  let split: TarSplitWriter | null = null;
  let writeback: EarlyWriteback | null = null;
  let blob: BlobWriter | null = null;
  try {
    staged = makeStagedLayerDir(ctx, stage, options.parent);
    const { layerDir } = staged;
    // Overlay's format into an empty changeset; dir format onto a snapshot of the parent's tree.
    applier = stagedApplier(ctx, staged);
    split = new TarSplitWriter(ctx.layout.tarSplitIn(layerDir));
    const a = applier;
    const s = split;
    const limits = ctx.limits;
    // File content (a sparse file's segments too) goes to the layer; everything else (and the
    // content of entries that are not regular files, which no layer keeps) goes to the tar-split record.
    let toFile = false;
    const checkXattrs = xattrCheck(ctx);
    let seen = 0;
    const parser = new TarParser({
      onEntry: (entry) => {
        if (seen < IMAGE_MEMBER_WINDOW) {
          seen++;
          if (isImageArchiveMember(entry.path)) refuseImageArchive(entry.path);
        }
        const op = toApplyOp(entry, limits);
        checkXattrs(op);
        a.apply(op);
        toFile = op.op === 'file' || op.op === 'sparse';
        if (toFile) s.content(op);
      },
      onData: (chunk) => (toFile ? a.data(chunk) : s.raw(chunk)),
      onEntryEnd: () => { toFile = false; a.endEntry(); },
      onRaw: (bytes) => s.raw(bytes),
    });
    writeback = new EarlyWriteback(stage.path, ctx.ports);
    const wb = writeback;
    // A compressed archive is kept as it came (its digest is what a registry lists), written in
    // this same pass; a plain one is not: its tar-split record already reproduces it byte for byte.
    const tee = (compression: Compression): BlobWriter | null => {
      if (compression === 'none') return null;
      // Made durable by the one syncfs below, with the layer's files; hashed by openSource, which
      // reads the bytes it writes (seal checks the size it wrote against the size read).
      blob = BlobWriter.staged(ctx, ctx.layout.stagedBlob(stage.path), { flush: false, hashed: false });
      return blob;
    };
    const opened = openSource(source, { maxBytes: ctx.limits.maxBytes, signal: options.signal, tee });
    let bytes = 0;
    for await (const chunk of opened.chunks) {
      parser.write(chunk);
      // The parser is synchronous; backpressure from the tar-split gzip is honoured between chunks.
      const drained = s.ready();
      if (drained !== null) await drained;
      bytes += chunk.length;
      // The kept archive is written too: its bytes count towards the early writeback.
      wb.progress(a.stats.bytes + ((blob as BlobWriter | null)?.offset ?? 0), a.stats.entries);
      options.onProgress?.({ bytes, entries: a.stats.entries });
    }
    parser.end();
    applier.finish();
    await split.close();
    await writeback.close();
    const digests = opened.result();
    if (options.expectedDigest !== undefined && digests.blobDigest !== options.expectedDigest) {
      throw new ShibafuError('DIGEST_MISMATCH', `Cannot import layer: the archive hashes to ${digests.blobDigest}, ${options.expectedDigest} was expected`, {
        hint: 'The archive was damaged or is not the blob that was asked for; nothing was stored. Fetch it again.',
        details: { expected: options.expectedDigest, actual: digests.blobDigest },
      });
    }
    const sealed = (blob as BlobWriter | null)?.seal({ digest: digests.blobDigest, size: digests.blobSize }) ?? null;
    // One syncfs instead of an fsync per file: the data must be durable before the row commits.
    ctx.ports.syncfs(stage.fd);
    return commitStagedLayer(ctx, stage, {
      dir: layerDir,
      snapshot: staged.snapshot,
      diffId: digests.diffId as DiffId,
      parent: options.parent,
      size: digests.tarSize,
      files: a.stats.entries,
      blobDigest: digests.blobDigest,
      blobSize: digests.blobSize,
      mediaType: LAYER_MEDIA_TYPES[digests.compression],
      source: 'tar',
      tarSplit: true,
      ...(sealed !== null && digests.compression !== 'none'
        ? { blobs: [{ sealed, compression: digests.compression, mediaType: LAYER_MEDIA_TYPES[digests.compression] }] }
        : {}),
    }, options.name);
  } catch (err) {
    applier?.abort();
    split?.destroy();
    discardStagedLayer(ctx, staged, stage);
    throw err;
  } finally {
    (blob as BlobWriter | null)?.close();
    await writeback?.close();
    stage.dispose();
  }
}

/**
 * Creates a sealed layer from a host directory (taken as a layer diff: a 0/0 character device is a
 * whiteout, `trusted.overlay.opaque` an opaque dir), copied with reflinks where possible.
 */
export async function importDir(ctx: StoreContext, dir: string, options: ImportOptions): Promise<CommitResult> {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot read directory "${dir}": no such directory`);
  }
  if (!st.isDirectory()) throw new ShibafuError('USAGE', `Cannot use "${dir}" with --from-dir: it is not a directory`);
  const stage = Staging.create(ctx.layout, 'import', ctx.ports);
  let staged: StagedLayerDirs | null = null;
  try {
    staged = makeStagedLayerDir(ctx, stage, options.parent);
    const { layerDir, diffDir } = staged;
    let hashed: LayerHash;
    if (staged.format === 'dir') {
      // The host dir is a changeset in overlay's format: packed as the layer's tar, it is
      // applied onto the new snapshot of the parent's tree in the same pass.
      const xattrs = { list: (p: string) => ctx.ports.llistxattr(p), get: (p: string, n: string) => ctx.ports.lgetxattr(p, n) };
      hashed = applyTarToTreeSync(ctx, diffDir, chunksOf(packLayerSync(dir, { xattrs, ...(options.signal !== undefined ? { signal: options.signal } : {}) })));
      syncDir(ctx, diffDir);
    } else {
      copyTree(dir, diffDir, ctx.ports);
      ctx.ports.syncfs(stage.fd);
      hashed = hashLayerDir(diffDir, ctx.ports, options.signal);
    }
    return commitStagedLayer(ctx, stage, {
      dir: layerDir, snapshot: staged.snapshot, diffId: hashed.diffId, parent: options.parent, size: hashed.bytes, files: hashed.entries,
      blobDigest: null as Digest | null, blobSize: null, mediaType: null, source: 'dir', tarSplit: false,
    }, options.name);
  } catch (err) {
    discardStagedLayer(ctx, staged, stage);
    throw err;
  } finally {
    stage.dispose();
  }
}
