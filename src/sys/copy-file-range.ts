/**
 * In-kernel copies: copy_file_range(2) moves data without a trip through user space, and file
 * systems may turn it into a reflink (btrfs, xfs) or a server-side copy (NFS 4.2).
 */
import { check, libc } from './libc.js';

/** One call copies at most this much; the loop goes on until done (the kernel caps a call at ~2 GiB). */
const CHUNK = 1 << 30;

/**
 * Copies `length` bytes from `srcFd` to `destFd` at both fds' current offsets (which advance),
 * looping over short copies. Returns the bytes copied: less than `length` only when the source
 * ended first.
 * Throws SysError: EXDEV (across file systems, since Linux 5.19), EINVAL / EOPNOTSUPP (file
 * system without support), EBADF.
 *
 * @example
 * const copied = copyFileRange(src, dst, fs.fstatSync(src).size);
 */
export function copyFileRange(srcFd: number, destFd: number, length: number): number {
  const fn = libc('copy_file_range');
  let done = 0;
  while (done < length) {
    const n = check(fn(srcFd, null, destFd, null, Math.min(CHUNK, length - done), 0), {
      syscall: 'copy_file_range',
      path: `fd ${srcFd} -> fd ${destFd}`,
    });
    if (n === 0) break; // end of the source
    done += n;
  }
  return done;
}
