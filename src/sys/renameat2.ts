/**
 * rename(2) with flags: the store publishes a staged directory with RENAME_NOREPLACE (the name
 * appearing is the commit point, and a concurrent writer of the same content loses cleanly with
 * EEXIST instead of one rename silently replacing the other's tree).
 */
import { check, cString, libc } from './libc.js';

/** Fail with EEXIST instead of replacing an existing `newPath`. */
export const RENAME_NOREPLACE = 1;
/** Atomically swap `oldPath` and `newPath` (both must exist). */
export const RENAME_EXCHANGE = 2;
/** Leave a whiteout at `oldPath` (overlay's own use; needs CAP_MKNOD). */
export const RENAME_WHITEOUT = 4;

/** "Relative to the current directory" for the *at() calls (include/uapi/linux/fcntl.h). */
export const AT_FDCWD = -100;

/**
 * Renames `oldPath` to `newPath` with RENAME_* `flags` (0 behaves as rename(2)).
 * Throws SysError: EEXIST (NOREPLACE and `newPath` exists), ENOENT, EXDEV (across file
 * systems), EINVAL (flags the file system does not support; all of ext4, xfs, btrfs and tmpfs
 * support NOREPLACE and EXCHANGE).
 *
 * @example
 * renameat2(stagedDir, layerDir, RENAME_NOREPLACE);
 */
export function renameat2(oldPath: string, newPath: string, flags = 0): void {
  const ret = libc('renameat2')(AT_FDCWD, cString(oldPath, 'renameat2'), AT_FDCWD, cString(newPath, 'renameat2'), flags);
  check(ret, { syscall: 'renameat2', path: oldPath, dest: newPath });
}
