/**
 * Who owns a running container: the process that holds an exclusive flock(2) on its directory.
 * That is the `shibafu run` in the foreground, or a detached container's monitor, which inherits
 * the locked descriptor and keeps it until it has written the exit status. The kernel drops the
 * lock when its holder dies, however it dies, so "locked" means "someone will record the end".
 */
import * as fs from 'node:fs';
import { errnoCode } from '../errors.js';
import type { StoreContext } from '../store/store-context.js';

export interface ContainerLock {
  /** The locked directory descriptor (handed to a monitor to keep the lock alive). */
  readonly fd: number;
  release(): void;
}

/**
 * Takes the container's lock without waiting; null when another owner holds it.
 *
 * @example
 * const lock = tryLockContainer(ctx, id); if (lock === null) throw busy(); try { ... } finally { lock.release(); }
 */
export function tryLockContainer(ctx: StoreContext, containerId: string): ContainerLock | null {
  let fd: number;
  try {
    fd = fs.openSync(ctx.layout.containerDir(containerId), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (err) {
    // No directory (removed meanwhile, or never made): nobody can own it.
    if (errnoCode(err) === 'ENOENT') return { fd: -1, release() {} };
    throw err;
  }
  if (!ctx.ports.tryLock(fd, true)) {
    fs.closeSync(fd);
    return null;
  }
  let open = true;
  return {
    fd,
    release() {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}

/** Whether a live process owns the container (its lock is held). */
export function isOwned(ctx: StoreContext, containerId: string): boolean {
  const lock = tryLockContainer(ctx, containerId);
  if (lock === null) return true;
  lock.release();
  return false;
}
