/**
 * Commit: a container's writable upper dir becomes a new sealed layer on top of its stack, in one
 * of two ways (container-commit.ts picks).
 *
 * `commitUpper` copies the upper into a staging dir (reflinks where the file system has them, else
 * copy_file_range: in the kernel, not through our buffers), overlay's private xattrs dropped,
 * whiteouts (root-owned, mtime 0: their creation time is no content) and opaque dirs kept; the
 * diffId is the deterministic tar of the staged copy streamed through sha256 (never written
 * anywhere); then one syncfs and commitStagedLayer. The staged copy, not the upper, is what gets
 * hashed and stored, so the layer is consistent with its diffId even when the container keeps
 * writing; pause it first for an exact snapshot, as `podman commit` does by default.
 *
 * `commitUpperByMove` commits the active snapshot of a container that does not run as the layer itself.
 * (docs/changes.md)
 */
import * as fs from 'node:fs';
import { insertSealedLayer, layerByChainId, layerById, upsertName, type LayerRow } from '../db/layer-queries.js';
import { ShibafuError, isShibafuError } from '../errors.js';
import { copyOverlayDir, type CopyOverlayStats } from '../changes/copy-overlay-dir.js';
import { upperSettler } from '../changes/settle-upper.js';
import { nodeTreeFs, publicXattrs, type TreeFs } from '../changes/tree-fs.js';
import { newWriteStats, setTimes } from '../changes/node-writer.js';
import { asChainId, chainIdOf } from '../ids.js';
import { fsyncDir } from '../sys/sync.js';
import { assertNameFree, commitStagedLayer, discardStagedLayer, makeStagedLayerDir, syncDir, type CommitResult, type StagedLayerDirs } from './layer-commit.js';
import { hashChangeset, hashLayerDir, type LayerHash } from './layer-hash.js';
import { ancestry } from './layer-views.js';
import { Staging, type StagingIntent } from './staging.js';
import type { StoreContext } from './store-context.js';
import { applyTarToTreeSync, chunksOf } from './dir-layer-write.js';
import { packTreeChangesSync } from '../changes/pack-tree-changes.js';

export interface CommitUpperOptions {
  /** The overlay upper dir to commit. */
  readonly upper: string;
  /** The container's stack, bottom first (as `expandStack` returns it); its top is the parent. */
  readonly stack: readonly LayerRow[];
  /** Name for the new layer (null: unnamed). */
  readonly name: string | null;
  readonly signal?: AbortSignal;
}

export interface CommitUpperResult extends CommitResult {
  /** What the copy did: files, bytes, methods (reflink / copy_file_range / copy), vanished entries. */
  readonly stats: CopyOverlayStats;
}

/**
 * Commits `upper` as a layer whose parent is the top of `stack`.
 *
 * @example
 * const { layer } = commitUpper(ctx, { upper, stack: expandStack(ctx, [app]), name: 'app-v2' });
 */
export function commitUpper(ctx: StoreContext, options: CommitUpperOptions): CommitUpperResult {
  const parent = parentOfStack(ctx, options.stack, 'commit');
  if (!fs.statSync(options.upper, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot commit "${options.upper}": it is not a directory`);
  }
  const stage = Staging.create(ctx.layout, 'import', ctx.ports);
  let staged: StagedLayerDirs | null = null;
  try {
    staged = makeStagedLayerDir(ctx, stage, parent);
    const { layerDir, diffDir } = staged;
    let stats: CopyOverlayStats = { ...newWriteStats(), vanished: 0 };
    let hashed: LayerHash;
    if (staged.format === 'dir') {
      // `upper` is the container's whole tree: its changes from the parent's tree, packed as the
      // layer's tar and applied onto the new snapshot (of the parent) in the same pass.
      const parentTree = parent === null ? ctx.layout.empty : ctx.snapshots.changeset(parent.chainId!).dir;
      const written = applyTarToTreeSync(ctx, diffDir, chunksOf(packTreeChangesSync(parentTree, options.upper, { xattrs: ctx.ports, ...(options.signal !== undefined ? { signal: options.signal } : {}) })));
      stats = { ...written.stats, vanished: 0 };
      hashed = written;
      syncDir(ctx, diffDir);
    } else {
      stats = copyOverlayDir(nodeTreeFs(ctx.ports), ctx.ports, options.upper, diffDir, {
        whiteouts: 'normalize', ...(options.signal !== undefined ? { signal: options.signal } : {}),
      });
      // One syncfs for the whole staged tree: durable before the row that shows it commits.
      ctx.ports.syncfs(stage.fd);
      hashed = hashLayerDir(diffDir, ctx.ports, options.signal);
    }
    const result = commitStagedLayer(ctx, stage, {
      dir: layerDir, snapshot: staged.snapshot, diffId: hashed.diffId, parent, size: hashed.bytes, files: hashed.entries,
      blobDigest: null, blobSize: null, mediaType: null, source: 'commit', tarSplit: false,
    }, options.name);
    return { ...result, stats };
  } catch (err) {
    discardStagedLayer(ctx, staged, stage);
    throw err;
  } finally {
    stage.dispose();
  }
}

export interface MoveUpperOptions {
  /** The container's active snapshot, whose changes become the layer; the container must not run. */
  readonly snapshot: string;
  /** Its stack, bottom first; its top is the parent. */
  readonly stack: readonly LayerRow[];
  readonly name: string | null;
  /** Inside the transaction that publishes the layer: stack it on the container's row. */
  readonly rebase: (layer: LayerRow) => void;
  readonly signal?: AbortSignal;
}

/**
 * Commits a stopped, unmounted container's active snapshot as the layer itself: its changes,
 * settled in place (overlay's private xattrs and whiteout times, settle-upper.ts) by the walk that
 * hashes them, are committed under the chainId, and in the same transaction the container gets a
 * fresh active snapshot on the new layer (with the old root's owner, mode and time) and is stacked
 * on it. Its merged view is what it was; nothing is copied or moved, so the cost is the walk, the
 * hash and one syncfs. If the same content is stored already, the container is stacked on that
 * layer instead and its old snapshot, committed under a throw-away name, is removed after.
 *
 * Crash safety: one transaction; the snapshotter's sweep unseals a commit that did not commit, and
 * the intent (kind `commit`) lets the store's sweep remove a layer dir without its row and the
 * throw-away snapshot (undoUpperMove).
 *
 * @example
 * commitUpperByMove(ctx, { snapshot: `container-${row.id}`, stack, name: 'app-v2', rebase: (l) => stackCommittedLayer(ctx.db, row.id, l.id) });
 */
export function commitUpperByMove(ctx: StoreContext, options: MoveUpperOptions): CommitUpperResult {
  const parent = parentOfStack(ctx, options.stack, 'commit');
  const key = options.snapshot;
  const changeset = ctx.snapshots.changeset(key);
  const treeFs = nodeTreeFs(ctx.ports);
  const stage = Staging.create(ctx.layout, 'commit', ctx.ports);
  try {
    // An overlay upper is settled in place by the walk that hashes it (after the driver's own
    // marks, where it leaves any: fuse-overlayfs); a whole tree (btrfs, zfs) is hashed as the
    // difference from its parent's, and its fresh snapshot, of the committed tree, keeps its root.
    const root = stage.sub('root');
    let hashed: LayerHash;
    let stats: CopyOverlayStats = { ...newWriteStats(), vanished: 0 };
    if (changeset.format === 'overlay') {
      // Before anything is changed: the new upper keeps what the container sees as its root.
      cloneRootDir(ctx, treeFs, changeset.dir, root);
      ctx.snapshots.settle(key);
      const settler = upperSettler(ctx.ports);
      hashed = hashLayerDir(changeset.dir, ctx.ports, options.signal, settler);
      stats = settler.stats;
    } else {
      hashed = hashChangeset(changeset, ctx.ports, ctx.layout.empty, options.signal);
    }
    const layerDir = stage.sub('layer');
    fs.mkdirSync(layerDir, 0o700);
    // The container's writes were never synced: one syncfs (of the file system that holds them:
    // a ZFS dataset is one of its own) makes them durable before the row.
    syncDir(ctx, changeset.dir);
    const chainId = chainIdOf(parent?.chainId ?? null, hashed.diffId);
    const target = ctx.layout.layerDir(chainId);
    const discard = `discard-${stage.token}`;
    const intent: Extract<StagingIntent, { kind: 'commit' }> = { kind: 'commit', target, chainId, snapshot: key, discard };
    let result: { layer: LayerRow; existed: boolean };
    try {
      result = ctx.db.immediate(() => {
        if (options.name !== null) assertNameFree(ctx, options.name, chainId);
        if (parent !== null && layerById(ctx.db, parent.id) === undefined) {
          throw new ShibafuError('LAYER_NOT_FOUND', 'Cannot commit: the top layer of the stack was removed meanwhile');
        }
        stage.setIntent(intent);
        let layer = layerByChainId(ctx.db, chainId);
        const existed = layer !== undefined;
        if (layer !== undefined) {
          if (options.name !== null) upsertName(ctx.db, options.name, layer.id, ctx.now());
        } else {
          fs.rmSync(target, { recursive: true, force: true });
          fs.renameSync(layerDir, target);
          fsyncDir(ctx.layout.layers);
          const id = insertSealedLayer(ctx.db, {
            chainId, diffId: hashed.diffId, parentId: parent?.id ?? null, size: hashed.bytes, files: hashed.entries,
            blobDigest: null, blobSize: null, mediaType: null, source: 'commit', tarSplit: false, created: ctx.now(),
          });
          if (options.name !== null) upsertName(ctx.db, options.name, id, ctx.now());
          layer = layerById(ctx.db, id) as LayerRow;
        }
        options.rebase(layer);
        // The snapshotter's changes last: nothing that can fail comes after them but the commit of
        // this transaction (a nested snapshotter change is undone by its own sweep, not by a rollback).
        ctx.snapshots.commit(existed ? discard : chainId, key);
        ctx.snapshots.prepare(key, chainId);
        if (changeset.format === 'overlay') copyRootAttrs(ctx, treeFs, root, ctx.snapshots.changeset(key).dir);
        return { layer, existed };
      });
    } catch (err) {
      // The transaction rolled back: what it made outside the database goes, as the sweep's undo does.
      ctx.db.immediate(() => undoUpperMove(ctx, stage.path, intent));
      throw err;
    }
    if (result.existed) ctx.snapshots.remove(discard);
    return { ...result, stats };
  } finally {
    stage.dispose();
  }
}

/**
 * The sweep's undo of a `commit` by move: one transaction did everything, so only what it left
 * outside the database can remain: the layer's dir without its row, and the throw-away snapshot
 * of a commit whose content was stored already.
 */
export function undoUpperMove(ctx: StoreContext, _stagingPath: string, intent: Extract<StagingIntent, { kind: 'commit' }>): boolean {
  if (intent.snapshot === undefined) return false; // an intent of the layout before snapshots: nothing it names exists
  if (layerByChainId(ctx.db, asChainId(intent.chainId)) === undefined) fs.rmSync(intent.target, { recursive: true, force: true });
  try {
    if (ctx.snapshots.stat(intent.discard).kind === 'committed') ctx.snapshots.remove(intent.discard);
  } catch (err) {
    if (!isShibafuError(err, 'SNAPSHOT_NOT_FOUND')) throw err;
  }
  return false;
}

/** Gives `to` (an existing, empty directory) the owner, mode and mtime of `from` (made by cloneRootDir). */
function copyRootAttrs(ctx: StoreContext, treeFs: TreeFs, from: string, to: string): void {
  const info = treeFs.lstat(from);
  if (info?.kind !== 'dir') return;
  fs.chownSync(to, info.uid, info.gid);
  fs.chmodSync(to, info.mode);
  for (const [name, value] of publicXattrs(treeFs, from)) ctx.ports.lsetxattr(to, name, value);
  setTimes(ctx.ports, to, info.mtimeNs);
}

/** Makes `to` an empty directory with `from`'s owner, mode, public xattrs and mtime. */
function cloneRootDir(ctx: StoreContext, treeFs: TreeFs, from: string, to: string): void {
  const info = treeFs.lstat(from);
  if (info?.kind !== 'dir') throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot commit "${from}": it is not a directory`);
  fs.mkdirSync(to);
  fs.chownSync(to, info.uid, info.gid);
  fs.chmodSync(to, info.mode);
  for (const [name, value] of publicXattrs(treeFs, from)) ctx.ports.lsetxattr(to, name, value);
  setTimes(ctx.ports, to, info.mtimeNs);
}

/**
 * The parent a layer built on `stack` gets: its top layer. A layer has one parent, so the stack
 * must be one chain (the top layer and its ancestors); several chains stacked side by side cannot
 * be the base of a layer without losing all but the top one.
 *
 * @example
 * parentOfStack(ctx, expandStack(ctx, [app]), 'commit') // app's row
 */
export function parentOfStack(ctx: StoreContext, stack: readonly LayerRow[], action: string): LayerRow | null {
  const top = stack.at(-1);
  if (top === undefined) return null;
  const current = layerById(ctx.db, top.id);
  if (current === undefined || current.chainId === null) {
    throw new ShibafuError('LAYER_NOT_FOUND', `Cannot ${action}: the top layer of the stack was removed or is not sealed`);
  }
  const chain = ancestry(ctx, current);
  const same = chain.length === stack.length && chain.every((l, i) => l.id === stack[i]?.id);
  if (!same) {
    throw new ShibafuError('UNSUPPORTED', `Cannot ${action}: the stack is not one chain of layers (${stack.length} layers, of which the top layer's chain holds ${chain.length}), and a layer has one parent`, {
      hint: 'Build on one chain: create a layer that holds the whole stack with `shibafu layer diff-create NEW --from TOP --to A,B,...`, then use a stack ending in it.',
      details: { stack: stack.map((l) => l.chainId), chain: chain.map((l) => l.chainId) },
    });
  }
  return current;
}
