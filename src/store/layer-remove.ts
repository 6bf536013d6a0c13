/**
 * Removing layers and names. A layer in use (by a child layer, a mount or a container) is never
 * removed; the check and the removal happen in one write transaction, so a concurrent `layer
 * create --parent` or mount cannot slip in between.
 */
import * as fs from 'node:fs';
import {
  childrenOf, deleteLayerRow, deleteName, deleteNamesOf, namesOf, upsertName, type LayerRow,
} from '../db/layer-queries.js';
import { containersUsing } from '../db/container-queries.js';
import { unlinkLayerBlobs } from '../db/blob-queries.js';
import { dropBlob, purgeTrashed, sweepTrash } from '../content/blob-publish.js';
import { ShibafuError } from '../errors.js';
import { shortId, type Digest } from '../ids.js';
import { liveMountsUsing, removeLayerLink } from './layer-mounts.js';
import { Staging } from './staging.js';
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
  try {
    const result = ctx.db.immediate((): RemoveResult => {
      const names = namesOf(ctx.db, layer.id);
      if (names.includes(ref) && names.length > 1) {
        deleteName(ctx.db, ref);
        return { action: 'untagged', chainId: layer.chainId, names: [ref] };
      }
      assertUnused(ctx, layer, names);
      const dir = layer.chainId !== null ? ctx.layout.layerDir(layer.chainId) : ctx.layout.openLayerDir(layer.openToken ?? '');
      stage.setIntent({ kind: 'remove', target: dir, chainId: layer.chainId ?? undefined, openToken: layer.openToken ?? undefined });
      if (fs.existsSync(dir)) fs.renameSync(dir, stage.sub('layer'));
      deleteNamesOf(ctx.db, layer.id);
      // Its blobs that no other layer has go with it, in the same transaction (blob-publish.ts:
      // moved to the trash, put back by the next open's sweep if this never commits).
      droppedBlobs = unlinkLayerBlobs(ctx.db, layer.id).filter((digest) => dropBlob(ctx, digest));
      deleteLayerRow(ctx.db, layer.id);
      removeLayerLink(ctx, layer.id);
      return { action: 'removed', chainId: layer.chainId, names };
    });
    committed = true;
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
  const children = childrenOf(ctx.db, layer.id);
  if (children.length > 0) {
    const shown = children.slice(0, 3).map((c) => namesOf(ctx.db, c.id)[0] ?? (c.chainId === null ? `#${c.id}` : shortId(c.chainId)));
    throw new ShibafuError('LAYER_IN_USE', `Cannot remove layer ${label}: ${children.length} child layer${children.length > 1 ? 's' : ''} use${children.length > 1 ? '' : 's'} it (${shown.join(', ')})`, {
      hint: 'Remove the child layers first.',
      details: { children: children.map((c) => c.chainId) },
    });
  }
  const containers = containersUsing(ctx.db, layer.id);
  if (containers.length > 0) {
    const shown = containers.slice(0, 3).map((c) => c.name).join(', ') + (containers.length > 3 ? ', ...' : '');
    throw new ShibafuError('LAYER_IN_USE', `Cannot remove layer ${label}: ${containers.length} container${containers.length > 1 ? 's' : ''} use${containers.length > 1 ? '' : 's'} it (${shown})`, {
      hint: `Remove the container${containers.length > 1 ? 's' : ''} first: shibafu container rm ${containers.map((c) => c.name).join(' ')}`,
      details: { containers: containers.map((c) => ({ id: c.id, name: c.name })) },
    });
  }
  const mounts = liveMountsUsing(ctx, layer.id);
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
