/**
 * Reflinks: the destination shares the source's extents (copy-on-write at the block level), so
 * a copy of any size costs only metadata. Btrfs and XFS (reflink=1) support it; ext4 does not.
 */
import { check, libc } from './libc.js';

/** _IOW(0x94, 9, int) from include/uapi/linux/fs.h. */
export const FICLONE = 0x40049409;

/**
 * Makes the file open as `destFd` share all of `srcFd`'s data (ioctl FICLONE). `destFd` must be
 * open for writing; its old contents are replaced.
 * Throws SysError: EOPNOTSUPP (Node's name: 'ENOTSUP') on file systems without reflinks such as
 * ext4, EXDEV across file systems, EINVAL for unaligned or special files.
 *
 * @example
 * ficlone(dst, src);
 */
export function ficlone(destFd: number, srcFd: number): void {
  check(libc('ioctl')(destFd, FICLONE, 'int', srcFd), { syscall: 'ioctl(FICLONE)', path: `fd ${destFd} <- fd ${srcFd}` });
}
