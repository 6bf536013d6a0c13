/**
 * Where the store's files are in its driver: a sealed layer's in its committed snapshot (named
 * by its chainId), an open layer's in `open-<token>`; and the removal of the snapshots an
 * operation leaves behind (the sweep's and the failure paths').
 */
import { layerByChainId, type LayerRow } from '../db/layer-queries.js';
import { ShibafuError, isShibafuError } from '../errors.js';
import { asChainId, type ChainId } from '../ids.js';
import type { StoreContext } from './store-context.js';

/**
 * The layer's changeset dir (overlay format). UNSUPPORTED on a dir-format driver, whose layers
 * are whole trees: the caller needs a dir-format reading there.
 *
 * @example
 * packLayerSync(layerDiffDir(ctx, layer.chainId), ...)
 */
export function layerDiffDir(ctx: StoreContext, chainId: ChainId): string {
  const changeset = ctx.snapshots.changeset(chainId);
  if (changeset.format !== 'overlay') {
    throw new ShibafuError('UNSUPPORTED', `Cannot read layer ${chainId} as a changeset on the ${ctx.driver} driver yet: it keeps whole trees`, {
      hint: 'Use a store made with --storage-driver overlay (or fuse-overlayfs) for this command.',
    });
  }
  return changeset.dir;
}

/**
 * The key of a layer's snapshot: its chainId once sealed, `open-<token>` while open.
 *
 * @example
 * ctx.snapshots.changeset(layerSnapshot(layer)).dir
 */
export function layerSnapshot(layer: Pick<LayerRow, 'chainId' | 'openToken'>): string {
  if (layer.chainId !== null) return layer.chainId;
  return openSnapshot(layer.openToken ?? '');
}

/** The key of an open layer's active snapshot. */
export function openSnapshot(openToken: string): string {
  return `open-${openToken}`;
}

/** The kind of the snapshot by that key, or null when there is none. */
function kindOf(ctx: StoreContext, key: string): string | null {
  try {
    return ctx.snapshots.stat(key).kind;
  } catch (err) {
    if (isShibafuError(err, 'SNAPSHOT_NOT_FOUND')) return null;
    throw err;
  }
}

/** Removes an active snapshot or a view if there is one by that key. */
export function removeActive(ctx: StoreContext, key: string): void {
  const kind = kindOf(ctx, key);
  if (kind !== null && kind !== 'committed') ctx.snapshots.remove(key);
}

/**
 * Removes a snapshot left by an operation whose row is gone: an active one always; a committed
 * one only while no layer has its name (a layer by that chainId may have been made since).
 */
export function removeUnused(ctx: StoreContext, key: string): void {
  const kind = kindOf(ctx, key);
  if (kind === null) return;
  if (kind !== 'committed' || !/^sha256:[0-9a-f]{64}$/.test(key) || layerByChainId(ctx.db, asChainId(key)) === undefined) ctx.snapshots.remove(key);
}
