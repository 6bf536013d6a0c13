/**
 * Diff layers: the differences between the merged views of two stacks (`layer diff A B`), and
 * CreateDiffLayer (`layer diff-create NEW --from A --to B`): a layer on top of A such that A + NEW
 * shows exactly B's merged view (types, modes, owners, mtimes, content, xattrs, link targets,
 * hard links). Both stacks are mounted read-only and walked in parallel (changes/tree-diff.ts);
 * the layer is planned (changes/diff-plan.ts), built in a staging dir in overlay's format and
 * committed like any other layer, its diffId by the deterministic packer: the same A and B give
 * the same layer, on any host.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { LayerRow } from '../db/layer-queries.js';
import type { Change } from '../changes/change.js';
import { planDiffLayer, type DiffOp } from '../changes/diff-plan.js';
import {
  finishDirs, newWriteStats, NORMALIZED_WHITEOUT, writeDir, writeNode, writeWhiteout, type PendingDir, type WriteStats,
} from '../changes/node-writer.js';
import { diffTrees, type TreeDiff } from '../changes/tree-diff.js';
import { nodeTreeFs, publicXattrs, type NodeInfo, type TreeFs } from '../changes/tree-fs.js';
import { dirView, stackView, type TreeView } from '../changes/tree-view.js';
import { ShibafuError } from '../errors.js';
import { commitStagedLayer, discardStagedLayer, makeStagedLayerDir, syncDir, type CommitResult, type StagedLayerDirs } from './layer-commit.js';
import { parentOfStack } from './layer-from-upper.js';
import { hashLayerDir } from './layer-hash.js';
import { withMountedStacks, type MountedViews } from './mounted-views.js';
import { Staging } from './staging.js';
import type { StoreContext } from './store-context.js';
import { layerDiffDir } from './layer-files.js';
import { applyTarToTreeSync } from './dir-layer-write.js';
import { packTreeChangesSync } from '../changes/pack-tree-changes.js';

export interface DiffStacksOptions {
  readonly signal?: AbortSignal;
}

/**
 * The changes from stack `from` to stack `to` (each bottom first, sealed), sorted by path.
 *
 * @example
 * await diffStacks(ctx, expandStack(ctx, [base]), expandStack(ctx, [app])) // [{ path: '/app', kind: 'A', ... }, ...]
 */
export async function diffStacks(ctx: StoreContext, from: readonly LayerRow[], to: readonly LayerRow[], options: DiffStacksOptions = {}): Promise<Change[]> {
  if (ctx.snapshots.capabilities.format === 'dir') {
    // Whole-tree snapshots: each stack is one chain whose top's tree is its merged view.
    const treeFs = nodeTreeFs(ctx.ports);
    const a = treeOf(ctx, parentOfStack(ctx, from, 'compare the stacks'));
    const b = treeOf(ctx, parentOfStack(ctx, to, 'compare the stacks'));
    return diffTrees(treeFs, dirView(treeFs, a), dirView(treeFs, b), options.signal !== undefined ? { signal: options.signal } : {}).changes;
  }
  return withMountedStacks(ctx, [from, to], (views) => compareViews(nodeTreeFs(ctx.ports), views, options.signal).changes);
}

function compareViews(treeFs: TreeFs, views: MountedViews, signal: AbortSignal | undefined): TreeDiff {
  const [a, b] = views.roots as [string, string];
  return diffTrees(treeFs, dirView(treeFs, a), dirView(treeFs, b), {
    // Overlay mounts differ in st_dev; with every layer on one fs, st_ino is the real file's.
    ...(views.sameFs ? { sameFile: (x: NodeInfo, y: NodeInfo) => x.ino === y.ino } : {}),
    ...(signal !== undefined ? { signal } : {}),
  });
}

export interface CreateDiffLayerOptions {
  /** The base stack, bottom first: one chain; its top becomes the new layer's parent. */
  readonly from: readonly LayerRow[];
  /** The stack whose merged view the new layer reproduces on top of `from`. */
  readonly to: readonly LayerRow[];
  readonly name: string | null;
  readonly signal?: AbortSignal;
}

export interface CreateDiffLayerResult extends CommitResult {
  /** The changes the layer carries (what `layer diff FROM TO` lists). */
  readonly changes: Change[];
  readonly stats: WriteStats;
}

/**
 * CreateDiffLayer: a layer on top of `from` whose stack shows exactly `to`'s merged view.
 *
 * @example
 * const { layer } = await createDiffLayer(ctx, { from: [base], to: [base, v2], name: 'v1-to-v2' });
 */
export async function createDiffLayer(ctx: StoreContext, options: CreateDiffLayerOptions): Promise<CreateDiffLayerResult> {
  const parent = parentOfStack(ctx, options.from, 'create a diff layer');
  if (parent === null) throw new ShibafuError('USAGE', 'Cannot create a diff layer: --from names no layer');
  if (ctx.snapshots.capabilities.format === 'dir') return createDiffLayerOfTrees(ctx, options, parent);
  const treeFs = nodeTreeFs(ctx.ports);
  return withMountedStacks(ctx, [options.from, options.to], (views) => {
    const diff = compareViews(treeFs, views, options.signal);
    const stage = Staging.create(ctx.layout, 'import', ctx.ports);
    let staged: StagedLayerDirs | null = null;
    try {
      staged = makeStagedLayerDir(ctx, stage, parent);
      const { layerDir, diffDir } = staged;
      const source: Source = {
        merged: dirView(treeFs, views.roots[1] as string),
        // Content is read from the layer that holds it, not through the overlay mount, so the
        // copy can reflink (or copy_file_range) within the store's file system.
        layers: stackView(treeFs, options.to.map((l) => layerDiffDir(ctx, l.chainId!)).reverse()),
        fs: treeFs,
      };
      const stats = applyPlan(ctx, planDiffLayer(diff), source, diffDir);
      ctx.ports.syncfs(stage.fd);
      const hashed = hashLayerDir(diffDir, ctx.ports, options.signal);
      const result = commitStagedLayer(ctx, stage, {
        dir: layerDir, snapshot: staged.snapshot, diffId: hashed.diffId, parent, size: hashed.bytes, files: hashed.entries,
        blobDigest: null, blobSize: null, mediaType: null, source: 'diff', tarSplit: false,
      }, options.name);
      return { ...result, changes: diff.changes, stats };
    } catch (err) {
      discardStagedLayer(ctx, staged, stage);
      throw err;
    } finally {
      stage.dispose();
    }
  });
}

interface Source {
  /** B's merged view: types and attributes. */
  readonly merged: TreeView;
  /** B's layers resolved without the mount: where each file's bytes are on the store's fs. */
  readonly layers: TreeView;
  readonly fs: TreeFs;
}

/** Carries out a plan into `diffDir`; directories get their attributes last, deepest first. */
function applyPlan(ctx: StoreContext, ops: readonly DiffOp[], src: Source, diffDir: string): WriteStats {
  const stats = newWriteStats();
  const dirs: PendingDir[] = [];
  for (const op of ops) {
    const dst = join(diffDir, op.path);
    if (op.op === 'whiteout') {
      // A diff layer's whiteouts carry nothing of B's (NORMALIZED_WHITEOUT): a stable diffId.
      writeWhiteout(ctx.ports, dst, NORMALIZED_WHITEOUT, stats);
      continue;
    }
    if (op.op === 'link') {
      fs.linkSync(join(diffDir, op.target), dst);
      stats.links++;
      continue;
    }
    const node = src.merged.lookup(op.path);
    if (node === null) {
      throw new ShibafuError('INTERNAL', `Cannot create the diff layer: "/${op.path}" vanished from the target stack while it was read`);
    }
    const xattrs = publicXattrs(src.fs, node.path);
    if (op.op === 'dir') {
      writeDir(dst, stats);
      dirs.push({ path: dst, info: node.info, xattrs, opaque: op.opaque });
      continue;
    }
    writeNode(ctx.ports, dst, { info: node.info, path: contentPath(src, op.path, node.info) ?? node.path, xattrs }, stats);
  }
  finishDirs(ctx.ports, dirs);
  return stats;
}

/** The real file holding `rel`'s bytes in B's layers, when it matches what the mount shows. */
function contentPath(src: Source, rel: string, shown: NodeInfo): string | null {
  if (shown.kind !== 'file') return null;
  const real = src.layers.lookup(rel);
  return real !== null && real.info.kind === 'file' && real.info.size === shown.size && real.info.ino === shown.ino ? real.path : null;
}

/** The tree of a whole-tree driver's layer (its snapshot: its merged view), or the empty dir. */
function treeOf(ctx: StoreContext, layer: LayerRow | null): string {
  return layer === null ? ctx.layout.empty : ctx.snapshots.changeset(layer.chainId!).dir;
}

/**
 * createDiffLayer on a whole-tree driver: the difference of the two stacks' tops' trees, packed
 * as the layer's tar and applied onto the new snapshot of `from`'s top in the same pass.
 */
function createDiffLayerOfTrees(ctx: StoreContext, options: CreateDiffLayerOptions, parent: LayerRow): CreateDiffLayerResult {
  const to = parentOfStack(ctx, options.to, 'create a diff layer');
  const stage = Staging.create(ctx.layout, 'import', ctx.ports);
  let staged: StagedLayerDirs | null = null;
  try {
    staged = makeStagedLayerDir(ctx, stage, parent);
    const gen = packTreeChangesSync(treeOf(ctx, parent), treeOf(ctx, to), { xattrs: ctx.ports, ...(options.signal !== undefined ? { signal: options.signal } : {}) });
    let changes: Change[] = [];
    const tar = function* (): Generator<Buffer> {
      for (;;) {
        const next = gen.next();
        if (next.done === true) {
          changes = next.value.changes;
          return;
        }
        yield next.value;
      }
    };
    const hashed = applyTarToTreeSync(ctx, staged.diffDir, tar(), options.signal);
    syncDir(ctx, staged.diffDir);
    const result = commitStagedLayer(ctx, stage, {
      dir: staged.layerDir, snapshot: staged.snapshot, diffId: hashed.diffId, parent, size: hashed.bytes, files: hashed.entries,
      blobDigest: null, blobSize: null, mediaType: null, source: 'diff', tarSplit: false,
    }, options.name);
    return { ...result, changes, stats: newWriteStats() };
  } catch (err) {
    discardStagedLayer(ctx, staged, stage);
    throw err;
  } finally {
    stage.dispose();
  }
}
