/**
 * Removing layers and names. A layer in use (db/layer-users.ts: a child layer, a container or a
 * live mount) is never removed; the check and the removal happen in one write transaction, so a concurrent `layer
 * create --parent` or mount cannot slip in between.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import {
  deleteLayerRow, deleteName, deleteNamesOf, layerByChainId, namesOf, openTokenExists, upsertName, type LayerRow,
} from '../db/layer-queries.js';
import { containerExists } from '../db/container-queries.js';
import { unlinkLayerBlobs } from '../db/blob-queries.js';
import { layerUsers } from '../db/layer-users.js';
import { dropBlob, purgeTrashed, sweepTrash } from '../content/blob-publish.js';
import { ShibafuError } from '../errors.js';
import { asChainId, shortId, type Digest } from '../ids.js';
import { layerSnapshot, removeUnused } from './layer-files.js';
import { liveMountsUsing } from './layer-mounts.js';
import { Staging, type StagingIntent } from './staging.js';
import type { IntentUndo } from './store-intents.js';
import type { StoreContext } from './store-context.js';

export interface RemoveResult {
  /** `untagged`: only the name was removed (the layer has other names); `removed`: the layer is gone. */
  readonly action: 'untagged' | 'removed';
  readonly chainId: string | null;
  readonly names: string[];
}

/**
 * Removes a layer, or just one of its names when it has several (as `podman rmi` untags).
 *
 * @example
 * removeLayer(ctx, 'base', resolveLayer(ctx.db, 'base'));
 */
export function removeLayer(ctx: StoreContext, ref: string, layer: LayerRow): RemoveResult {
  const stage = Staging.create(ctx.layout, 'remove', ctx.ports);
  let droppedBlobs: Digest[] = [];
  let committed = false;
  let snapshot: string | null = null;
  try {
    const result = ctx.db.immediate((): RemoveResult => {
      const names = namesOf(ctx.db, layer.id);
      if (names.includes(ref) && names.length > 1) {
        deleteName(ctx.db, ref);
        return { action: 'untagged', chainId: layer.chainId, names: [ref] };
      }
      assertUnused(ctx, layer, names);
      // Its metadata dir (a sealed layer's tar-split) moves in the transaction; its files, in its
      // snapshot, go after it (the sweep finishes that if this process dies in between).
      snapshot = layerSnapshot(layer);
      const dir = layer.chainId !== null ? ctx.layout.layerDir(layer.chainId) : stage.sub('none');
      stage.setIntent<StagingIntent>({
        kind: 'remove', target: dir, snapshot,
        ...(layer.chainId === null ? {} : { chainId: layer.chainId }), ...(layer.openToken === null ? {} : { openToken: layer.openToken }),
      });
      if (fs.existsSync(dir)) fs.renameSync(dir, stage.sub('layer'));
      deleteNamesOf(ctx.db, layer.id);
      // Its blobs that no other layer has go with it, in the same transaction (blob-publish.ts:
      // moved to the trash, put back by the next open's sweep if this never commits).
      droppedBlobs = unlinkLayerBlobs(ctx.db, layer.id).filter((digest) => dropBlob(ctx, digest));
      deleteLayerRow(ctx.db, layer.id);
      return { action: 'removed', chainId: layer.chainId, names };
    });
    committed = true;
    if (snapshot !== null) {
      try {
        removeUnused(ctx, snapshot);
      } catch (err) {
        // The row is gone; the intent stays for the next open's sweep to finish the removal.
        stage.abandon();
        throw err;
      }
    }
    return result;
  } finally {
    // The layer's files are deleted after the commit, outside the write lock.
    stage.dispose();
    if (committed) purgeTrashed(ctx, droppedBlobs);
    else if (droppedBlobs.length > 0) restoreTrashed(ctx);
  }
}

/** A removal that did not commit: its trashed blobs, whose rows are back, go back too. */
function restoreTrashed(ctx: StoreContext): void {
  try {
    sweepTrash(ctx);
  } catch {
    // The next open's sweep does it.
  }
}

function assertUnused(ctx: StoreContext, layer: LayerRow, names: string[]): void {
  const label = names.length > 0 ? `"${names[0]}"` : layer.chainId === null ? `#${layer.id}` : shortId(layer.chainId);
  const users = layerUsers(ctx.db, layer.id);
  const { children, containers, images } = users;
  if (children.length > 0) {
    const shown = children.slice(0, 3).map((c) => (c.chainId !== null && c.label === c.chainId ? shortId(c.chainId) : c.label));
    throw new ShibafuError('LAYER_IN_USE', `Cannot remove layer ${label}: ${children.length} child layer${children.length > 1 ? 's' : ''} use${children.length > 1 ? '' : 's'} it (${shown.join(', ')})`, {
      hint: 'Remove the child layers first.',
      details: { children: children.map((c) => c.chainId) },
    });
  }
  if (containers.length > 0) {
    const shown = containers.slice(0, 3).map((c) => c.name).join(', ') + (containers.length > 3 ? ', ...' : '');
    throw new ShibafuError('LAYER_IN_USE', `Cannot remove layer ${label}: ${containers.length} container${containers.length > 1 ? 's' : ''} use${containers.length > 1 ? '' : 's'} it (${shown})`, {
      hint: `Remove the container${containers.length > 1 ? 's' : ''} first: shibafu container rm ${containers.map((c) => c.name).join(' ')}`,
      details: { containers: containers.map((c) => ({ id: c.id, name: c.name })) },
    });
  }
  if (images.length > 0) {
    const shown = images.slice(0, 3).map((i) => i.label).join(', ') + (images.length > 3 ? ', ...' : '');
    throw new ShibafuError('LAYER_IN_USE', `Cannot remove layer ${label}: ${images.length} image${images.length > 1 ? 's' : ''} use${images.length > 1 ? '' : 's'} it (${shown})`, {
      hint: 'Remove the image first: shibafu image rm IMAGE',
      details: { images: images.map((i) => i.label) },
    });
  }
  // A mount record outlives its mount after a reboot or an umount(8): only live ones count, and
  // stale ones are pruned on the way.
  const mounts = users.mounts.length === 0 ? [] : liveMountsUsing(ctx, layer.id);
  if (mounts.length > 0) {
    throw new ShibafuError('LAYER_IN_USE', `Cannot remove layer ${label}: ${mounts.length} mount${mounts.length > 1 ? 's' : ''} use${mounts.length > 1 ? '' : 's'} it (${mounts.map((m) => m.target).join(', ')})`, {
      hint: `Unmount first: shibafu layer umount ${mounts[0]?.target ?? 'TARGET'}`,
      details: { mounts: mounts.map((m) => m.target) },
    });
  }
}

/** Adds `name` to a layer, moving it if it named another one. */
export function tagLayer(ctx: StoreContext, layer: LayerRow, name: string): void {
  ctx.db.immediate(() => upsertName(ctx.db, name, layer.id, ctx.now()));
}

/** Removes a name; the layer stays. */
export function untag(ctx: StoreContext, name: string): void {
  const removed = ctx.db.immediate(() => deleteName(ctx.db, name));
  if (!removed) throw new ShibafuError('NAME_NOT_FOUND', `Cannot remove name "${name}": no layer has it`, { hint: 'See `shibafu layer list`.' });
}

/**
 * The sweep's undo of a `remove` (a layer's, an open layer's or a container's): the directory was
 * moved into the staging dir in the transaction that deletes its row; if that transaction never
 * committed, the row is still there and the directory goes back.
 */
export const undoRemove: IntentUndo<Extract<StagingIntent, { kind: 'remove' }>> = (ctx, stagingPath, intent) => {
  const moved = join(stagingPath, 'layer');
  const rowExists = intent.chainId !== undefined ? layerByChainId(ctx.db, asChainId(intent.chainId)) !== undefined
    : intent.openToken !== undefined ? openTokenExists(ctx.db, intent.openToken)
      : intent.containerId !== undefined ? containerExists(ctx.db, intent.containerId) : false;
  if (rowExists) {
    if (fs.existsSync(moved) && !fs.existsSync(intent.target)) {
      fs.renameSync(moved, intent.target);
      return true;
    }
    return false;
  }
  // The row is gone: its snapshot goes too (a committed one only if no layer has its name now).
  if (intent.snapshot !== undefined) removeUnused(ctx, intent.snapshot);
  return false;
};
