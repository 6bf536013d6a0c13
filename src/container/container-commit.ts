/**
 * `container commit`: the container's changes become a sealed layer on top of its stack.
 *
 * A running container is paused (`runc pause`, as `podman commit` does by default) while its
 * upper is copied; it keeps its upper. A container that does not run gives its upper away instead
 * (the "moved rather than copied where the container is stopped"): unmounted, its upper
 * is renamed into the layer and it is stacked on that layer with a fresh upper, so its merged view
 * is unchanged and nothing is copied (store/layer-from-upper.ts). Its row keeps how many layers it
 * was created on, so `container diff` still lists all its changes (layer-changes.ts), as
 * `podman diff` does after a commit; the committed layer is in its stack, so `layer rm` of it
 * waits for `container rm`.
 */
import { containerById, stackCommittedLayer, type ContainerRow } from '../db/container-queries.js';
import { ShibafuError, isShibafuError } from '../errors.js';
import { commitUpper, commitUpperByMove, type CommitUpperResult } from '../store/layer-from-upper.js';
import type { StoreContext } from '../store/store-context.js';
import { parseStoredConfig } from './container-config.js';
import type { ContainerContext } from './container-context.js';
import { tryLockContainer } from './container-lock.js';
import { containerSnapshot, containerStack, containerUpper, isContainerMounted, mountContainer } from './container-mount.js';
import { reconcile } from './container-state.js';

export interface ContainerCommitResult extends CommitUpperResult {
  /** True when the upper was moved into the layer (the container did not run), false when copied. */
  readonly moved: boolean;
}

/**
 * @example
 * const { layer, moved } = await commitContainer(cc, resolveContainer(db, 'web'), 'web-v2');
 */
export async function commitContainer(cc: ContainerContext, row: ContainerRow, name: string | null, options: { signal?: AbortSignal } = {}): Promise<ContainerCommitResult> {
  const ctx = cc.store;
  const current = await reconcile(cc, row);
  const signal = options.signal !== undefined ? { signal: options.signal } : {};
  if (current.state === 'running') return commitPaused(cc, current, name, signal);
  const lock = tryLockContainer(ctx, row.id);
  if (lock === null) {
    throw new ShibafuError('CONTAINER_IN_USE', `Cannot commit container "${row.name}": another shibafu process is starting or committing it`, {
      hint: 'Retry in a moment.',
    });
  }
  try {
    if (lock.fd < 0) throw new ShibafuError('CONTAINER_NOT_FOUND', `Cannot commit container "${row.name}": it was removed meanwhile`);
    // The whole stack, its own committed layers included: the top is the parent.
    const stack = containerStack(ctx, current);
    const mounted = isContainerMounted(ctx, current);
    if (mounted && !unmountNow(ctx, current)) {
      // Something holds its root (a shell whose cwd is in merged/): its upper cannot move under it.
      return { ...commitUpper(ctx, { upper: containerUpper(ctx, row.id), stack, name, ...signal }), moved: false };
    }
    try {
      const result = commitUpperByMove(ctx, {
        snapshot: containerSnapshot(row.id), stack, name, rebase: (layer) => stackCommittedLayer(ctx.db, row.id, layer.id), ...signal,
      });
      return { ...result, moved: true };
    } finally {
      if (mounted) remount(ctx, row.id);
    }
  } finally {
    lock.release();
  }
}

/** A running container: frozen for the copy and thawed after, whatever happens. */
async function commitPaused(cc: ContainerContext, row: ContainerRow, name: string | null, signal: { signal?: AbortSignal }): Promise<ContainerCommitResult> {
  const ctx = cc.store;
  const runtime = cc.runtime(parseStoredConfig(row.config).runtime);
  await runtime.pause(row.id);
  try {
    return { ...commitUpper(ctx, { upper: containerUpper(ctx, row.id), stack: containerStack(ctx, row), name, ...signal }), moved: false };
  } finally {
    await runtime.resume(row.id);
  }
}

/** One plain unmount: false when the mount is busy (no lazy detach: the upper is about to move). */
function unmountNow(ctx: StoreContext, row: ContainerRow): boolean {
  try {
    ctx.mounter.unmount(ctx.layout.containerMerged(row.id));
    return true;
  } catch (err) {
    if (isShibafuError(err, 'TARGET_BUSY')) return false;
    throw err;
  }
}

/**
 * Mounts the container again on its stack as it now is. Best effort: a container whose mount is
 * missing is shown as such and mounted by its next `start`, so a failure here must not turn a
 * commit that is done into an error.
 */
function remount(ctx: StoreContext, id: string): void {
  const now = ctx.db.read(() => containerById(ctx.db, id));
  if (now === undefined) return;
  try {
    mountContainer(ctx, now, { volatile: parseStoredConfig(now.config).autoRemove });
  } catch {
    // See above: `start` mounts it.
  }
}
