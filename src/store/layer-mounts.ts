/**
 * MountLayers: stacks of layers mounted with overlayfs, recorded in the store so a mounted layer
 * cannot be removed. The record is committed before the mount and removed after the unmount, so a
 * crash can leave a stale record (shown and pruned) but never an unrecorded mount of a layer.
 */
import * as fs from 'node:fs';
import { randomBytes } from '../sys/random.js';
import { resolve as resolvePath } from 'node:path';
import {
  allMounts, deleteMount, insertMount, layersByIds, markMounted, mountById, mountIdByTarget, mountsUsing,
  namesOfLayers, mountChainOf, type LayerRow, type MountLayer, type MountRow, type StackLayer,
} from '../db/layer-queries.js';
import { ShibafuError, errnoCode, isShibafuError } from '../errors.js';
import { ancestry } from './layer-views.js';
import type { MountApi } from './ports.js';
import { Staging, stagingOwnerAlive, type StagingIntent } from './staging.js';
import type { IntentUndo } from './store-intents.js';
import type { StoreContext } from './store-context.js';
import { removeActive } from './layer-files.js';

/** Mount records do not outlive a reboot, so their commits skip the WAL fsync (Db.immediate). */
const NOT_DURABLE = { durable: false } as const;

/** The kernel's OVL_MAX_STACK (fs/overlayfs/params.h). */
export const OVERLAY_MAX_STACK = 500;

/**
 * Expands named layers into the stack to mount, bottom first: each layer brings its ancestors
 * (its diff only makes sense on top of them); chains named in order are stacked in that order and
 * a layer already in the stack is not repeated (so `base,python,app` of one chain is 3 layers).
 *
 * @example
 * expandStack(ctx, [app]) // [base, python, app]
 */
export function expandStack(ctx: StoreContext, layers: readonly LayerRow[]): LayerRow[] {
  return expandWith(layers, (layer) => ancestry(ctx, layer));
}

/**
 * expandStack for a mount, which needs only each layer's row id, chainId and, for the view it
 * returns, names: the whole rows of a 500-layer chain cost ~2 ms to read and map, these ~0.8 ms
 * (docs/benchmarks.md).
 *
 * @example
 * mountStack(ctx, expandStackToMount(ctx, [app]), '/mnt/rootfs', { writable: false, api: 'auto' });
 */
export function expandStackToMount(ctx: StoreContext, layers: readonly LayerRow[]): MountLayer[] {
  return expandWith(layers, (layer) => mountChainOf(ctx.db, layer.id));
}

function expandWith<T extends StackLayer>(layers: readonly LayerRow[], chain: (layer: LayerRow) => T[]): T[] {
  const stack: T[] = [];
  const seen = new Set<number>();
  for (const layer of layers) {
    for (const l of chain(layer)) {
      if (seen.has(l.id)) continue;
      seen.add(l.id);
      stack.push(l);
    }
  }
  if (stack.length > OVERLAY_MAX_STACK) {
    throw new ShibafuError('STACK_TOO_DEEP', `Cannot mount a stack of ${stack.length} layers: the kernel mounts at most ${OVERLAY_MAX_STACK} lower layers (OVL_MAX_STACK)`, {
      hint: 'Flatten part of the stack into one layer: mount it writable (or run a container on it), commit, and build on the result; or create the top layers from a single tar of the merged tree.',
      details: { depth: stack.length, limit: OVERLAY_MAX_STACK },
    });
  }
  return stack;
}

/**
 * The top of each chain in an expanded stack (bottom first): what a snapshot of the stack is
 * prepared on (each brings its ancestors again, in the same order).
 *
 * @example
 * chainTops([base, python, app]) // ['sha256:<app>']
 */
export function chainTops(stack: readonly StackLayer[]): string[] {
  return topPositions(stack).map((i) => stack[i]!.chainId!);
}

/** Where each chain of an expanded stack ends (positions, bottom first): the layers a mount record pins. */
function topPositions(stack: readonly StackLayer[]): number[] {
  const tops: number[] = [];
  stack.forEach((l, i) => {
    const next = stack[i + 1];
    if (next === undefined || next.parentId !== l.id) tops.push(i);
  });
  return tops;
}

export interface MountOptions {
  readonly writable: boolean;
  readonly api: MountApi;
  /** Skip syncs on the upper (overlay `volatile`): for throw-away uppers only. */
  readonly volatile?: boolean;
}

export interface MountView {
  readonly id: string;
  readonly target: string;
  readonly writable: boolean;
  readonly api: string;
  readonly created: string;
  readonly state: 'mounting' | 'mounted';
  /** Bottom first. */
  readonly layers: { chainId: string | null; names: string[] }[];
  /** False when the record outlived the mount (reboot, umount(8) behind shibafu's back). */
  readonly mounted: boolean;
  readonly upper: string | null;
}

/**
 * Mounts `stack` (already expanded and sealed) at `target`.
 *
 * @example
 * mountStack(ctx, expandStackToMount(ctx, [app]), '/mnt/rootfs', { writable: true, api: 'auto' });
 */
export function mountStack(ctx: StoreContext, stack: readonly MountLayer[], target: string, options: MountOptions): MountView {
  if (stack.length === 0) throw new ShibafuError('USAGE', 'Cannot mount: name at least one layer');
  fs.mkdirSync(target, { recursive: true });
  const realTarget = fs.realpathSync(target);
  if (!fs.statSync(realTarget).isDirectory()) throw new ShibafuError('USAGE', `Cannot mount on "${target}": it is not a directory`);
  const mountId = randomBytes(8).toString('hex');
  // Decided before the record is written, so `layer mounts` shows the API actually used.
  const api = ctx.mounterFor(options.api).overlayApi();
  const snapshot = mountSnapshot(mountId);
  // Named by the mount id, so anyone can tell whether the owner of a 'mounting' record lives.
  const stage = Staging.create(ctx.layout, 'mount', ctx.ports, mountId);
  try {
    const row: MountRow = { id: mountId, target: realTarget, writable: options.writable, api, state: 'mounting', created: ctx.now(), layerIds: stack.map((l) => l.id) };
    // A read-only mount leaves nothing on disk: its record needs no WAL fsync (2-4 ms here), as a
    // power loss takes the mount with it. A writable one's record stays durable: it is what
    // finds and prunes the upper once the mount is gone, reboot or not.
    const mounts = ctx.db.immediate(() => {
      const existing = mountIdByTarget(ctx.db, realTarget);
      if (existing !== undefined) {
        if (ctx.mounter.isMounted(realTarget)) {
          throw new ShibafuError('ALREADY_MOUNTED', `Cannot mount on "${realTarget}": a shibafu stack is already mounted there`, {
            hint: `Unmount it first: shibafu layer umount ${realTarget}`,
          });
        }
        dropMountRecord(ctx, existing);
      }
      // The intent outlives the record's 'mounting' state: a sweeper finding this staging dir
      // stale undoes a half-made mount (unmount, drop the record and the snapshot).
      stage.setIntent<StagingIntent>({ kind: 'mount', mountId, snapshot }, NOT_DURABLE);
      // The record's foreign keys check, under this write lock, that no layer was removed since
      // the stack was read (they pin each chain's top, and a top its ancestors); a remover that
      // comes later sees the record.
      const tops = topPositions(stack);
      if (!insertMount(ctx.db, row, tops)) {
        throw new ShibafuError('LAYER_NOT_FOUND', 'Cannot mount: a layer of the stack was removed meanwhile');
      }
      // Planned by the snapshotter, in the same transaction: a view, or an active snapshot whose
      // upper takes the writes.
      const parents = tops.map((i) => stack[i]!.chainId!);
      return options.writable ? ctx.snapshots.prepare(snapshot, parents, { volatile: options.volatile === true }) : ctx.snapshots.view(snapshot, parents);
    }, options.writable ? {} : NOT_DURABLE);
    try {
      ctx.mounterFor(options.api).mount(mounts, realTarget);
    } catch (err) {
      ctx.db.immediate(() => dropMountRecord(ctx, mountId), NOT_DURABLE);
      throw err;
    }
    ctx.db.immediate(() => markMounted(ctx.db, mountId), NOT_DURABLE);
    return toView(ctx, { ...row, state: 'mounted' }, true, stack);
  } finally {
    stage.dispose();
  }
}

/**
 * The key of a `layer mount`'s snapshot: a view, or (writable) an active snapshot.
 *
 * @example
 * ctx.snapshots.changeset(mountSnapshot(id)).dir // a writable mount's upper
 */
export function mountSnapshot(mountId: string): string {
  return `mount-${mountId}`;
}

/**
 * Unmounts a recorded mount and drops its record and upper dir. Idempotent: a target that is
 * neither mounted nor recorded is not an error.
 */
export function unmountTarget(ctx: StoreContext, target: string, lazy = false): { unmounted: boolean; recorded: boolean } {
  const realTarget = fs.existsSync(target) ? fs.realpathSync(target) : resolvePath(target);
  // The id alone: an unmount has no use for the 500 layer ids of the record's stack.
  const mountId = ctx.db.read(() => mountIdByTarget(ctx.db, realTarget));
  if (mountId === undefined) {
    if (ctx.mounter.isMounted(realTarget)) {
      throw new ShibafuError('MOUNT_NOT_FOUND', `Cannot unmount "${realTarget}": the overlay there was not mounted by this store`, {
        hint: 'Use the --root it was mounted with, or umount(8) for a mount shibafu did not make.',
      });
    }
    return { unmounted: false, recorded: false };
  }
  let unmounted: boolean;
  try {
    unmounted = ctx.mounter.unmount(realTarget, { lazy });
  } catch (err) {
    if (errnoCode(err) === 'EBUSY') {
      throw new ShibafuError('TARGET_BUSY', `Cannot unmount "${realTarget}": a process is using it`, {
        hint: 'Stop the processes working in it (fuser -m TARGET), or use --lazy to detach it now.', cause: err,
      });
    }
    throw err;
  }
  ctx.db.immediate(() => dropMountRecord(ctx, mountId), NOT_DURABLE);
  return { unmounted, recorded: true };
}

function dropMountRecord(ctx: StoreContext, mountId: string): void {
  deleteMount(ctx.db, mountId);
  // Inside the caller's transaction; the snapshot (a writable one's upper) is data of a mount
  // that no longer exists.
  removeActive(ctx, mountSnapshot(mountId));
}

/**
 * Mounts that use the layer: mounted ones, and ones being mounted right now (a 'mounting' record
 * whose owner still holds the lock on `tmp/mount-<id>`). Any other record whose mount is gone
 * (reboot, umount(8), an owner killed mid-mount) is stale and pruned on the way.
 */
export function liveMountsUsing(ctx: StoreContext, layerId: number): MountRow[] {
  const live: MountRow[] = [];
  for (const m of mountsUsing(ctx.db, layerId)) {
    const beingMounted = m.state === 'mounting' && stagingOwnerAlive(ctx.layout, 'mount', m.id, ctx.ports);
    if (beingMounted || ctx.mounter.isMounted(m.target)) live.push(m);
    else dropMountRecord(ctx, m.id);
  }
  return live;
}

/**
 * Undoes a mount whose owner died between recording it and finishing (called by the sweep, in a
 * write transaction): unmounts it if the mount happened, drops the record and the upper.
 */
export function undoHalfMount(ctx: StoreContext, mountId: string): void {
  const row = mountById(ctx.db, mountId);
  if (row === undefined) {
    removeActive(ctx, mountSnapshot(mountId));
    return;
  }
  if (row.state === 'mounted') return;
  if (ctx.mounter.isMounted(row.target)) ctx.mounter.unmount(row.target, { lazy: true });
  dropMountRecord(ctx, row.id);
}

/** The sweep's undo of a `mount`: a mount whose owner died half-way is undone (undoHalfMount). */
export const undoMount: IntentUndo<Extract<StagingIntent, { kind: 'mount' }>> = (ctx, _stagingPath, intent) => {
  undoHalfMount(ctx, intent.mountId);
  return false;
};

export function listMounts(ctx: StoreContext): MountView[] {
  return ctx.db.read(() => allMounts(ctx.db).map((m) => toView(ctx, m, ctx.mounter.isMounted(m.target))));
}

/** `known`: the stack with its names when the caller already has them (a mount just made: the record's own stack). */
function toView(ctx: StoreContext, m: MountRow, mounted: boolean, known?: readonly MountLayer[]): MountView {
  return {
    id: m.id, target: m.target, writable: m.writable, api: m.api, created: m.created, state: m.state, mounted,
    upper: m.writable ? upperOf(ctx, m.id) : null,
    layers: known === undefined ? recordedLayers(ctx, m.layerIds) : known.map((l) => ({ chainId: l.chainId, names: l.names })),
  };
}

function recordedLayers(ctx: StoreContext, layerIds: readonly number[]): MountView['layers'] {
  const layers = layersByIds(ctx.db, layerIds);
  const names = namesOfLayers(ctx.db, layerIds);
  return layerIds.map((id) => ({ chainId: layers.get(id)?.chainId ?? null, names: names.get(id) ?? [] }));
}

/** A writable mount's upper: its snapshot's changeset (null once the snapshot is gone). */
function upperOf(ctx: StoreContext, mountId: string): string | null {
  try {
    return ctx.snapshots.changeset(mountSnapshot(mountId)).dir;
  } catch (err) {
    if (isShibafuError(err, 'SNAPSHOT_NOT_FOUND')) return null;
    throw err;
  }
}
