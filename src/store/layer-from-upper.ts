/**
 * Commit: a container's writable upper dir becomes a new sealed layer on top of its stack. The
 * upper is copied into a staging dir (reflinks where the file system has them, else
 * copy_file_range: in the kernel, not through our buffers), overlay's private xattrs dropped,
 * whiteouts (root-owned, mtime 0: their creation time is no content) and opaque dirs kept; the diffId is the deterministic tar of the staged copy streamed
 * through sha256 (never written anywhere); then one syncfs and commitStagedLayer.
 *
 * The staged copy, not the upper, is what gets hashed and stored, so the layer is consistent with
 * its diffId even when the container keeps writing. What the layer captures of files written
 * during the copy is not defined: pause the container first for an exact snapshot, as
 * `podman commit` does by default (docs/changes.md).
 */
import * as fs from 'node:fs';
import { layerById, type LayerRow } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import { copyOverlayDir, type CopyOverlayStats } from '../changes/copy-overlay-dir.js';
import { nodeTreeFs } from '../changes/tree-fs.js';
import { commitStagedLayer, type CommitResult, makeStagedLayerDir } from './layer-commit.js';
import { hashLayerDir } from './layer-hash.js';
import { ancestry } from './layer-views.js';
import { Staging } from './staging.js';
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
