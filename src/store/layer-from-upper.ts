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
 * `commitUpperByMove` takes the upper of a container that does not run as the layer itself.
 * (docs/changes.md)
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { containerById } from '../db/container-queries.js';
import { layerByChainId, layerById, type LayerRow } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import { copyOverlayDir, type CopyOverlayStats } from '../changes/copy-overlay-dir.js';
import { upperSettler } from '../changes/settle-upper.js';
import { nodeTreeFs, publicXattrs, type TreeFs } from '../changes/tree-fs.js';
import { setTimes } from '../changes/node-writer.js';
import { asChainId, chainIdOf } from '../ids.js';
import { fsyncDir } from '../sys/sync.js';
import { commitStagedLayer, type CommitResult, makeStagedLayerDir } from './layer-commit.js';
import { hashLayerDir } from './layer-hash.js';
import { ancestry } from './layer-views.js';
import { Staging, type StagingIntent } from './staging.js';
import type { StoreContext } from './store-context.js';

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
  try {
    const { layerDir, diffDir } = makeStagedLayerDir(ctx, stage);
    const stats = copyOverlayDir(nodeTreeFs(ctx.ports), ctx.ports, options.upper, diffDir, {
      whiteouts: 'normalize', ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    // One syncfs for the whole staged tree: durable before the row that shows it commits.
    ctx.ports.syncfs(stage.fd);
    const hashed = hashLayerDir(diffDir, ctx.ports, options.signal);
    const result = commitStagedLayer(ctx, stage, {
      dir: layerDir, diffId: hashed.diffId, parent, size: hashed.bytes, files: hashed.entries,
      blobDigest: null, blobSize: null, mediaType: null, source: 'commit', tarSplit: false,
    }, options.name);
    return { ...result, stats };
  } finally {
    stage.dispose();
  }
}

export interface MoveUpperOptions {
  /** The container whose upper (containers/<id>/upper) becomes the layer; it must not run. */
  readonly containerId: string;
  /** Its stack, bottom first; its top is the parent. */
  readonly stack: readonly LayerRow[];
  readonly name: string | null;
  /** Inside the transaction that publishes the layer: stack it on the container's row. */
  readonly rebase: (layer: LayerRow) => void;
  readonly signal?: AbortSignal;
}

/**
 * Commits a stopped, unmounted container's upper by moving it: settled in place (overlay's
 * private xattrs and whiteout times, settle-upper.ts) by the walk that hashes it, then renamed into the
 * new layer while a fresh empty upper (with the old root's owner, mode and time) takes its place,
 * and the container is stacked on the layer in the same transaction. Its merged view is what it
 * was; nothing is copied, so the cost is the walk, the hash and one syncfs.
 *
 * Crash safety: the intent (kind `commit`) names the container and the chainId; until the
 * transaction commits, `undoUpperMove` puts the upper back (recovery.ts, or the catch below).
 *
 * @example
 * commitUpperByMove(ctx, { containerId: row.id, stack, name: 'app-v2', rebase: (l) => stackCommittedLayer(ctx.db, row.id, l.id) });
 */
export function commitUpperByMove(ctx: StoreContext, options: MoveUpperOptions): CommitUpperResult {
  const parent = parentOfStack(ctx, options.stack, 'commit');
  const upper = ctx.layout.containerUpper(options.containerId);
  const treeFs = nodeTreeFs(ctx.ports);
  const stage = Staging.create(ctx.layout, 'commit', ctx.ports);
  try {
    const fresh = stage.sub('upper');
    // Before anything is changed: the new upper keeps what the container sees as its root.
    cloneRootDir(ctx, treeFs, upper, fresh);
    // One walk settles the upper in place and hashes it as settled.
    const settler = upperSettler(ctx.ports);
    const hashed = hashLayerDir(upper, ctx.ports, options.signal, settler);
    const stats = settler.stats;
    const layerDir = stage.sub('layer');
    fs.mkdirSync(layerDir, 0o700);
    // The container's writes were never synced: one syncfs makes them durable before the row.
    ctx.ports.syncfs(stage.fd);
    const chainId = chainIdOf(parent?.chainId ?? null, hashed.diffId);
    const intent: StagingIntent = { kind: 'commit', target: ctx.layout.layerDir(chainId), source: upper, chainId, containerId: options.containerId };
    try {
      const result = commitStagedLayer(ctx, stage, {
        dir: layerDir, diffId: hashed.diffId, parent, size: hashed.bytes, files: hashed.entries,
        blobDigest: null, blobSize: null, mediaType: null, source: 'commit', tarSplit: false,
      }, options.name, {
        intent,
        beforePublish() {
          fs.renameSync(upper, ctx.layout.diffIn(layerDir));
          fs.renameSync(fresh, upper);
          fsyncDir(ctx.layout.containerDir(options.containerId));
        },
        afterPublish: options.rebase,
      });
      return { ...result, stats };
    } catch (err) {
      // The transaction rolled back; the directories it had moved go back. Should that fail too,
      // the staging dir (which may hold the upper) is left to the next open's sweep, not deleted.
      try {
        undoUpperMove(ctx, stage.path, intent);
      } catch {
        stage.abandon();
      }
      throw err;
    }
  } finally {
    stage.dispose();
  }
}

/**
 * Undoes a `commitUpperByMove` whose transaction did not commit: the container's upper goes back
 * from wherever the moves had taken it. Returns true when it moved something back.
 *
 * The moves, in order: upper → <stage>/layer/diff, <stage>/upper (fresh) → upper, and in the
 * transaction <stage>/layer → layers/<chainId>. So while <stage>/layer exists the old upper is in
 * it or still in place; once it is gone, the old upper is in layers/<chainId>, which then has no row.
 */
export function undoUpperMove(ctx: StoreContext, stagingPath: string, intent: Extract<StagingIntent, { kind: 'commit' }>): boolean {
  const { containerId, chainId, source } = intent;
  const row = containerById(ctx.db, containerId);
  if (row === undefined) return false;
  const top = row.layerIds.at(-1);
  if (top !== undefined && layerById(ctx.db, top)?.chainId === chainId) return false; // it committed
  const staged = join(stagingPath, 'layer');
  let moved: string;
  if (fs.existsSync(staged)) {
    moved = ctx.layout.diffIn(staged);
    if (!fs.existsSync(moved)) return false; // nothing had moved yet
  } else {
    if (layerByChainId(ctx.db, asChainId(chainId)) !== undefined) return false;
    moved = ctx.layout.diffIn(ctx.layout.layerDir(asChainId(chainId)));
    if (!fs.existsSync(moved)) return false;
  }
  // What is at the upper's place now is the fresh, empty one (or nothing).
  fs.rmSync(source, { recursive: true, force: true });
  fs.renameSync(moved, source);
  if (!moved.startsWith(stagingPath)) fs.rmSync(ctx.layout.layerDir(asChainId(chainId)), { recursive: true, force: true });
  fsyncDir(ctx.layout.containerDir(containerId));
  return true;
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
