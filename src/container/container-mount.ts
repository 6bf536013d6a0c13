/**
 * A container's root file system: its active snapshot (`container-<id>`, on its stack) mounted at
 * containers/<id>/merged. The container row is the mount's record (it pins the stack), so no
 * `mounts` row is written.
 */
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { layerById, type LayerRow } from '../db/layer-queries.js';
import type { ContainerRow } from '../db/container-queries.js';
import { ShibafuError, isShibafuError } from '../errors.js';
import type { Mount } from '../snapshots/mount.js';
import type { StoreContext } from '../store/store-context.js';

/**
 * Mounts the container's stack (again, after a reboot or an unmount behind shibafu's back).
 * `volatile` (for `--rm`) skips all syncs of the upper: its data is thrown away anyway, and the
 * unmount then costs no syncfs (REFERENCE.md: 150 ms vs 3.4 ms with 400 MB dirty).
 *
 * @example
 * mountContainer(ctx, row, { volatile: false });
 */
export function mountContainer(ctx: StoreContext, row: ContainerRow, options: { volatile: boolean }): void {
  let mounts: Mount[];
  try {
    mounts = ctx.snapshots.mounts(containerSnapshot(row.id));
  } catch (err) {
    if (!isShibafuError(err, 'SNAPSHOT_NOT_FOUND')) throw err;
    throw new ShibafuError('STORE_CORRUPT', `Cannot mount container "${row.name}": its snapshot is missing`, {
      hint: `Remove the container: shibafu container rm ${row.name}`, cause: err,
    });
  }
  for (const m of mounts) {
    if (options.volatile && m.type === 'overlay' && m.work !== undefined) {
      // A volatile mount that was not unmounted cleanly leaves work/work/incompat/volatile, and the
      // kernel then refuses the next mount: the upper may be torn, but it is a throw-away one.
      fs.rmSync(`${m.work}/work`, { recursive: true, force: true });
    }
  }
  ctx.mounter.mount(mounts, ctx.layout.containerMerged(row.id));
}

/**
 * The key of a container's active snapshot: its writable layer.
 *
 * @example
 * ctx.snapshots.changeset(containerSnapshot(row.id)).dir // its upper, in overlay's format
 */
export function containerSnapshot(containerId: string): string {
  return `container-${containerId}`;
}

/** The container's upper (its changes): the changeset dir of its snapshot. */
export function containerUpper(ctx: StoreContext, containerId: string): string {
  return ctx.snapshots.changeset(containerSnapshot(containerId)).dir;
}

/**
 * The container's stack as stored, bottom first; a layer whose row is gone is left out.
 *
 * @example
 * containerStack(ctx, row).at(-1) // the top layer: the parent of the container's next commit
 */
export function containerStack(ctx: StoreContext, row: ContainerRow): LayerRow[] {
  return ctx.db.read(() => row.layerIds.map((id) => layerById(ctx.db, id)).filter((l): l is LayerRow => l !== undefined));
}

/** Whether the container's stack is mounted. */
export function isContainerMounted(ctx: StoreContext, row: { id: string }): boolean {
  return ctx.mounter.isMounted(ctx.layout.containerMerged(row.id));
}

/**
 * Unmounts the container's root; idempotent. A process that still holds the tree (the runtime
 * tearing down) gets a moment; then the mount is detached lazily, which is safe because nothing
 * will use this tree again.
 *
 * @example
 * await unmountContainer(ctx, row);
 */
export async function unmountContainer(ctx: StoreContext, row: { id: string }): Promise<void> {
  const target = ctx.layout.containerMerged(row.id);
  for (let attempt = 0; ; attempt++) {
    try {
      ctx.mounter.unmount(target, { lazy: attempt >= 5 });
      return;
    } catch (err) {
      if (!isShibafuError(err, 'TARGET_BUSY') || attempt >= 5) throw err;
      await sleep(20 * (attempt + 1));
    }
  }
}
