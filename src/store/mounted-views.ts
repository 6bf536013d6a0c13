/**
 * Read-only merged views of stacks, for comparing them: each stack is mounted with overlayfs (the
 * kernel is the reference for what a stack shows) in a staging dir under tmp/, opened, and then
 * detached at once (umount2 MNT_DETACH). The open directory keeps the detached tree readable
 * through `/proc/self/fd/N`, and nothing stays mounted under tmp/ whatever happens to the process
 * afterwards: the sweeper never meets a read-only mount it cannot delete.
 */
import * as fs from 'node:fs';
import type { LayerRow } from '../db/layer-queries.js';
import { Staging } from './staging.js';
import type { StoreContext } from './store-context.js';
import { layerDiffDir } from './layer-files.js';

/** One mounted stack: where to read it, and whether an inode number there names a real file. */
export interface MountedViews {
  /** `/proc/self/fd/N` roots, one per stack, in the order given. */
  readonly roots: readonly string[];
  /**
   * True when every layer of every stack is on one file system. Overlay then reports a lower
   * file's own inode number (overlayfs.rst, "Inode properties"), so equal inode numbers in two
   * views mean one and the same file.
   */
  readonly sameFs: boolean;
}

/**
 * Mounts `stacks` (each bottom first, sealed) read-only and runs `fn` on their merged roots.
 *
 * @example
 * await withMountedStacks(ctx, [stackA, stackB], ({ roots: [a, b] }) => compare(a, b));
 */
export async function withMountedStacks<T>(ctx: StoreContext, stacks: readonly (readonly LayerRow[])[], fn: (views: MountedViews) => Promise<T> | T): Promise<T> {
  const stage = Staging.create(ctx.layout, 'mount', ctx.ports);
  const fds: number[] = [];
  try {
    const devs = new Set<bigint>();
    for (const [i, stack] of stacks.entries()) {
      const lowers = stack.map((l) => layerDiffDir(ctx, l.chainId!));
      for (const dir of lowers) devs.add(fs.statSync(dir, { bigint: true }).dev);
      const target = stage.sub(`view-${i}`);
      fs.mkdirSync(target, 0o700);
      ctx.mounter.mount([{ type: 'overlay', lowers }], target);
      try {
        fds.push(fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
      } finally {
        ctx.mounter.unmount(target, { lazy: true });
      }
    }
    return await fn({ roots: fds.map((fd) => `/proc/self/fd/${fd}`), sameFs: devs.size <= 1 });
  } finally {
    for (const fd of fds) fs.closeSync(fd);
    stage.dispose();
  }
}
