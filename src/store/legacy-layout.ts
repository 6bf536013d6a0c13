/**
 * Moves a store made before storage drivers onto the overlay driver's snapshots, once, when it is
 * first opened: sealed layers (layers/<hex>/diff) become committed snapshots named by their
 * chainId; open layers (open/<token>/diff), containers' uppers (containers/<id>/upper) and
 * writable mounts' uppers (mounts/<id>/upper) become active snapshots, read-only mounts views.
 *
 * Each item is a snapshot made through the snapshotter (so its row and dir follow the usual
 * protocol) whose empty dir is then replaced by the old one with one rename (rename(2) replaces an
 * empty directory atomically); a layer's is committed after. Every step is idempotent, so an
 * interrupted migration finishes at the next open; `layout` in store_config says when it is done.
 * Nothing is copied, and a running container goes on writing into its upper, renamed or not (the
 * kernel's mount holds the directory, not its path).
 */
import * as fs from 'node:fs';
import { allContainers } from '../db/container-queries.js';
import { allLayers, allMounts, layerById, type LayerRow } from '../db/layer-queries.js';
import { setStoreSetting } from '../db/snapshot-queries.js';
import { isShibafuError } from '../errors.js';
import { digestHex, type ChainId } from '../ids.js';
import { chainTops } from './layer-mounts.js';
import type { StoreContext } from './store-context.js';

export const LAYOUT_KEY = 'layout';
export const SNAPSHOT_LAYOUT = 'snapshots';

/**
 * @example
 * migrateLegacyLayout(ctx); // no-op once done
 */
export function migrateLegacyLayout(ctx: StoreContext): void {
  const { db, layout } = ctx;
  const layers = db.read(() => allLayers(db));
  for (const layer of layers) {
    if (layer.chainId !== null) {
      adopt(ctx, `legacy-${digestHex(layer.chainId)}`, parentOf(ctx, layer), layout.legacy.layerDiff(layer.chainId), layer.chainId);
    } else if (layer.openToken !== null) {
      adopt(ctx, `open-${layer.openToken}`, parentOf(ctx, layer), layout.legacy.openLayerDiff(layer.openToken), null);
    }
  }
  for (const c of db.read(() => allContainers(db))) {
    const stack = db.read(() => c.layerIds.map((id) => layerById(db, id)).filter((l): l is LayerRow => l !== undefined));
    adopt(ctx, `container-${c.id}`, chainTops(stack), layout.legacy.containerUpper(c.id), null);
    fs.rmSync(layout.legacy.containerWork(c.id), { recursive: true, force: true });
  }
  for (const m of db.read(() => allMounts(db))) {
    const stack = db.read(() => m.layerIds.map((id) => layerById(db, id)).filter((l): l is LayerRow => l !== undefined));
    if (m.writable) adopt(ctx, `mount-${m.id}`, chainTops(stack), layout.legacy.mountUpper(m.id), null);
    else if (!exists(ctx, `mount-${m.id}`)) ctx.snapshots.view(`mount-${m.id}`, chainTops(stack));
  }
  for (const dir of layout.legacy.dirs) fs.rmSync(dir, { recursive: true, force: true });
  db.immediate(() => setStoreSetting(db, LAYOUT_KEY, SNAPSHOT_LAYOUT));
}

/** The old dir `from` becomes the snapshot `key` (then committed as `commitAs`, for a layer). */
function adopt(ctx: StoreContext, key: string, parents: readonly string[], from: string, commitAs: ChainId | null): void {
  if (commitAs !== null && exists(ctx, commitAs)) return; // done
  if (!exists(ctx, key)) {
    if (!fs.existsSync(from)) return; // nothing of it left to move (an active snapshot never made)
    ctx.snapshots.prepare(key, parents);
  }
  const { dir } = ctx.snapshots.changeset(key);
  if (fs.existsSync(from)) fs.renameSync(from, dir);
  if (commitAs !== null) ctx.snapshots.commit(commitAs, key);
}

function parentOf(ctx: StoreContext, layer: LayerRow): string[] {
  if (layer.parentId === null) return [];
  const parent = ctx.db.read(() => layerById(ctx.db, layer.parentId as number));
  return parent?.chainId === null || parent === undefined ? [] : [parent.chainId];
}

function exists(ctx: StoreContext, key: string): boolean {
  try {
    ctx.snapshots.stat(key);
    return true;
  } catch (err) {
    if (isShibafuError(err, 'SNAPSHOT_NOT_FOUND')) return false;
    throw err;
  }
}
