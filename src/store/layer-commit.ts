/**
 * The one place a new layer becomes visible: its files, written into an active snapshot of the
 * store's driver (`import-<token>`, on the parent), are committed under the chainId, and its row
 * inserted, in the same write transaction. Whoever commits a chainId first wins; a second
 * producer of the same content on the same parent just gets the name added to the existing layer
 * (its own snapshot is removed).
 */
import * as fs from 'node:fs';
import { linkLayerBlob, type BlobCompression } from '../db/blob-queries.js';
import { publishBlob, removeUnpublishedBlob, unpublishBlob, type SealedBlob } from '../content/blob-publish.js';
import { insertSealedLayer, layerByChainId, layerById, nameTarget, upsertName, type LayerRow, type LayerSource } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import { asChainId, chainIdOf, type DiffId, type Digest } from '../ids.js';
import { fsyncDir } from '../sys/sync.js';
import type { Staging, StagingIntent } from './staging.js';
import type { IntentUndo } from './store-intents.js';
import type { StoreContext } from './store-context.js';
import { removeActive } from './layer-files.js';
import { DIR_LAYER_FORMAT, OVERLAY_LAYER_FORMAT } from '../format/layer-format.js';
import { overlayLowerView } from '../format/overlay-lowers.js';
import { createLayerApplier, type OpApplier } from '../tar/layer-applier.js';

export interface StagedLayer {
  /** The staged layer's metadata dir (its tar-split record), inside the staging dir. */
  readonly dir: string;
  /** The active snapshot that holds its files (makeStagedLayerDir). */
  readonly snapshot: string;
  readonly diffId: DiffId;
  readonly parent: LayerRow | null;
  readonly size: number;
  readonly files: number;
  readonly blobDigest: Digest | null;
  readonly blobSize: number | null;
  readonly mediaType: string | null;
  readonly source: LayerSource;
  readonly tarSplit: boolean;
  /** Compressed forms of the layer to keep in the content store, published with its row. */
  readonly blobs?: readonly StagedLayerBlob[];
}

/** The archive an import read, kept as it came (content/blob-ingest.ts wrote and verified it). */
export interface StagedLayerBlob {
  readonly sealed: SealedBlob;
  readonly compression: BlobCompression;
  readonly mediaType: string;
}

export interface CommitResult {
  readonly layer: LayerRow;
  /** True when a layer with this chainId was already stored and only the name was added. */
  readonly existed: boolean;
}

/**
 * Commits a staged layer; the staging dir is disposed of by the caller either way.
 *
 * @example
 * const { layer, existed } = commitStagedLayer(ctx, stage, staged, 'base');
 */
export function commitStagedLayer(ctx: StoreContext, stage: Staging, staged: StagedLayer, name: string | null): CommitResult {
  const chainId = chainIdOf(staged.parent?.chainId ?? null, staged.diffId);
  const target = ctx.layout.layerDir(chainId);
  const blobs = staged.blobs ?? [];
  let result: CommitResult;
  try {
    result = ctx.db.immediate(() => {
      if (name !== null) assertNameFree(ctx, name, chainId);
      const existing = layerByChainId(ctx.db, chainId);
      if (staged.parent !== null && layerById(ctx.db, staged.parent.id) === undefined) {
        throw new ShibafuError('LAYER_NOT_FOUND', 'Cannot create layer: its parent was removed meanwhile', { hint: 'Create the parent again, then retry.' });
      }
      // Before the blobs and the layer's dir leave tmp/: the sweep removes what has no row.
      stage.setIntent<StagingIntent>({ kind: 'import', snapshot: staged.snapshot, target, chainId, ...(blobs.length > 0 ? { blobs: blobs.map((b) => b.sealed.digest) } : {}) });
      if (existing !== undefined) {
        if (name !== null) upsertName(ctx.db, name, existing.id, ctx.now());
        // The blobs are published for a stored layer too: it gains a compressed form.
        attachBlobs(ctx, existing, blobs);
        return { layer: existing, existed: true };
      }
      // Holding the write lock, a directory without a row is a leftover of a killed process.
      fs.rmSync(target, { recursive: true, force: true });
      fs.renameSync(staged.dir, target);
      fsyncDir(ctx.layout.layers);
      const id = insertSealedLayer(ctx.db, {
        chainId, diffId: staged.diffId, parentId: staged.parent?.id ?? null, size: staged.size, files: staged.files,
        blobDigest: staged.blobDigest, blobSize: staged.blobSize, mediaType: staged.mediaType, source: staged.source,
        tarSplit: staged.tarSplit, created: ctx.now(),
      });
      if (name !== null) upsertName(ctx.db, name, id, ctx.now());
      const layer = layerById(ctx.db, id) as LayerRow;
      attachBlobs(ctx, layer, blobs);
      // Last: nothing that can fail comes after it but the commit of this transaction (a nested
      // snapshotter change is undone by its own sweep, not by this transaction's rollback).
      ctx.snapshots.commit(chainId, staged.snapshot);
      return { layer, existed: false };
    });
  } catch (err) {
    // A blob renamed into blobs/ by the transaction that failed goes back into the staging dir,
    // which the caller disposes of; the snapshot goes with the caller's discardStagedLayer.
    for (const b of blobs) unpublishBlob(ctx, b.sealed);
    throw err;
  }
  // The same content was stored already: this copy goes, outside the write lock.
  if (result.existed) ctx.snapshots.remove(staged.snapshot);
  return result;
}

/** Publishes the layer's blobs and links them to it (inside the publishing transaction). */
function attachBlobs(ctx: StoreContext, layer: LayerRow, blobs: readonly StagedLayerBlob[]): void {
  for (const b of blobs) {
    publishBlob(ctx, b.sealed, b.mediaType);
    linkLayerBlob(ctx.db, { layerId: layer.id, digest: b.sealed.digest, compression: b.compression, mediaType: b.mediaType });
  }
}

export interface StagedLayerDirs {
  /** `layer/` (0700) inside the staging dir: the layer's metadata (its tar-split record). */
  readonly layerDir: string;
  /** Where its files go: the changeset of a new active snapshot on the parent, in the driver's format. */
  readonly diffDir: string;
  /** That snapshot's key. */
  readonly snapshot: string;
  /** The driver's format: overlay (a changeset) or dir (the parent's tree, to change in place). */
  readonly format: 'overlay' | 'dir';
}

/**
 * Where every new layer (import, commit, diff layer, apply) is built before `commitStagedLayer`
 * publishes it: a metadata dir in the staging dir, and an active snapshot `import-<token>` on the
 * parent for its files. Recorded before the snapshot is made, so a killed producer's snapshot is
 * removed by the next open (undoImport). `discardStagedLayer` undoes it in process.
 */
export function makeStagedLayerDir(ctx: StoreContext, stage: Staging, parent: LayerRow | null): StagedLayerDirs {
  const layerDir = stage.sub('layer');
  fs.mkdirSync(layerDir, 0o700);
  const snapshot = `import-${stage.token}`;
  stage.setIntent<StagingIntent>({ kind: 'import', snapshot });
  ctx.snapshots.prepare(snapshot, parent?.chainId ?? null);
  const changeset = ctx.snapshots.changeset(snapshot);
  return { layerDir, diffDir: changeset.dir, snapshot, format: changeset.format };
}

/**
 * The applier of a staged layer's files, in its driver's format: dir format onto the parent's
 * tree; overlay format into the empty changeset, with the merged view of the layers under the
 * snapshot (read from their dirs, for whiteouts only: one is made where it hides something).
 *
 * @example
 * const applier = stagedApplier(ctx, makeStagedLayerDir(ctx, stage, parent));
 */
export function stagedApplier(ctx: StoreContext, staged: StagedLayerDirs): OpApplier {
  if (staged.format === 'dir') return createLayerApplier({ format: DIR_LAYER_FORMAT, root: staged.diffDir, ports: ctx.ports, limits: ctx.limits });
  // An active snapshot's mounts list the layers under it (none: a bind of the changeset itself).
  const mount = ctx.snapshots.mounts(staged.snapshot)[0];
  const below = mount === undefined || mount.type === 'bind' ? null : overlayLowerView(mount.lowers, ctx.ports);
  return createLayerApplier({ format: OVERLAY_LAYER_FORMAT, root: staged.diffDir, ports: ctx.ports, limits: ctx.limits, below });
}

/**
 * Removes a staged layer's snapshot after a failure (best effort: the sweep does it otherwise).
 * Its files go first: they are garbage, and on a full disk (the failure was often NO_SPACE) the
 * database needs the room they take to record the removal.
 */
export function discardStagedLayer(ctx: StoreContext, staged: { readonly snapshot: string } | null, stage: Staging): void {
  if (staged === null) return;
  try {
    if (ctx.snapshots.stat(staged.snapshot).kind !== 'active') return; // committed: a layer's now
  } catch {
    return; // gone already
  }
  try {
    const { dir } = ctx.snapshots.changeset(staged.snapshot);
    for (const name of fs.readdirSync(dir)) fs.rmSync(`${dir}/${name}`, { recursive: true, force: true });
    ctx.snapshots.remove(staged.snapshot);
  } catch {
    // Busy, or no room even now: the intent stays for the next open's sweep (undoImport).
    stage.abandon();
  }
}

/**
 * The sweep's undo of an `import` (and of any staged layer published under layers/<hex>): the
 * directory whose row never committed is a leftover.
 */
export const undoImport: IntentUndo<Extract<StagingIntent, { kind: 'import' }>> = (ctx, _stagingPath, intent) => {
  // Its snapshot, while still active (committed, it is the layer's and has a row).
  if (intent.snapshot !== undefined) removeActive(ctx, intent.snapshot);
  if (intent.chainId !== undefined && intent.target !== undefined && layerByChainId(ctx.db, asChainId(intent.chainId)) === undefined) {
    fs.rmSync(intent.target, { recursive: true, force: true });
  }
  // Its blobs: a file renamed into blobs/ whose row never committed.
  for (const digest of intent.blobs ?? []) {
    if (DIGEST_RE.test(digest)) removeUnpublishedBlob(ctx, digest as Digest);
  }
  return false;
};

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** A name may be reused only for the layer it already names. */
export function assertNameFree(ctx: StoreContext, name: string, chainId: string | null): void {
  const current = nameTarget(ctx.db, name);
  if (current === undefined) return;
  if (chainId !== null && layerById(ctx.db, current)?.chainId === chainId) return;
  throw new ShibafuError('NAME_IN_USE', `Cannot name the layer "${name}": that name already points at another layer`, {
    hint: `Pick another name, or move it with \`shibafu layer tag LAYER ${name}\`.`,
  });
}


/**
 * syncfs(2) of the file system that holds `dir`: a snapshot's may not be the store's (a ZFS
 * dataset is a file system of its own).
 */
export function syncDir(ctx: StoreContext, dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    ctx.ports.syncfs(fd);
  } finally {
    fs.closeSync(fd);
  }
}
