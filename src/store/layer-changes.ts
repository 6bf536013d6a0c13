/**
 * GetLayerChanges for the store: the changes of a writable upper dir (a container's, or a
 * `layer mount --writable` one) over the stack it is mounted on, read through the real ports.
 */
import * as fs from 'node:fs';
import type { LayerRow } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import type { Change } from '../changes/change.js';
import { nodeTreeFs } from '../changes/tree-fs.js';
import { upperChanges } from '../changes/upper-changes.js';
import { diffTrees } from '../changes/tree-diff.js';
import { dirView } from '../changes/tree-view.js';
import { composedUpperFs } from '../changes/composed-upper.js';
import type { StoreContext } from './store-context.js';
import { layerDiffDir } from './layer-files.js';

export interface GetLayerChangesOptions {
  /** The overlay upper dir. */
  readonly upper: string;
  /** The stack it is mounted on, bottom first (as `expandStack` returns it). */
  readonly stack: readonly LayerRow[];
  /**
   * Layers a container's commits moved its upper into (bottom first), between `stack` and
   * `upper`: their changes are listed with the upper's (composed-upper.ts).
   */
  readonly committed?: readonly LayerRow[];
  readonly signal?: AbortSignal;
}

/**
 * Lists what the upper changed (A/C/D with sizes), sorted by path; reads the upper and looks up
 * only the changed paths in the stack's layers.
 *
 * @example
 * getLayerChanges(ctx, { upper: layout.mountUpper(id), stack: expandStack(ctx, [app]) })
 */
export function getLayerChanges(ctx: StoreContext, options: GetLayerChangesOptions): Change[] {
  if (!fs.statSync(options.upper, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot list the changes of "${options.upper}": it is not a directory`);
  }
  if (ctx.snapshots.capabilities.format === 'dir') return treeChanges(ctx, options);
  const lowers = options.stack.map((l) => layerDiffDir(ctx, l.chainId!)).reverse();
  const committed = (options.committed ?? []).map((l) => layerDiffDir(ctx, l.chainId!)).reverse();
  const treeFs = committed.length === 0 ? nodeTreeFs(ctx.ports) : composedUpperFs(nodeTreeFs(ctx.ports), [options.upper, ...committed]);
  return upperChanges(treeFs, options.upper, lowers, options.signal !== undefined ? { signal: options.signal } : {});
}

/**
 * On a whole-tree driver (btrfs, zfs) `upper` is the container's whole tree: its changes are
 * the difference from the tree of the stack's top layer (what it was created on; its own
 * commits since are in its tree already), by the tree diff `layer diff` uses.
 */
function treeChanges(ctx: StoreContext, options: GetLayerChangesOptions): Change[] {
  const top = options.stack.at(-1);
  const base = top === undefined ? ctx.layout.empty : ctx.snapshots.changeset(top.chainId!).dir;
  const treeFs = nodeTreeFs(ctx.ports);
  return diffTrees(treeFs, dirView(treeFs, base), dirView(treeFs, options.upper), options.signal !== undefined ? { signal: options.signal } : {}).changes;
}
