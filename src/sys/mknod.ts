/**
 * Device nodes and FIFOs: overlay's whiteouts are character devices 0/0, and image layers carry
 * real device nodes (/dev/null in a base image) as well.
 */
import { check, cString, libc } from './libc.js';
import { SysError } from './sys-error.js';

/** The three kinds of special file mknod(2) makes for shibafu. */
export type NodeKind = 'char' | 'block' | 'fifo';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const TYPE_BITS: Record<NodeKind, number> = { char: S_IFCHR, block: S_IFBLK, fifo: S_IFIFO };

/** The kernel keeps 12 bits of major and 20 of minor (include/linux/kdev_t.h, new_encode_dev). */
export const MAX_MAJOR = 0xfff;
export const MAX_MINOR = 0xfffff;
const EOVERFLOW = 75;

/**
 * glibc's makedev(3) bit layout (gnu_dev_makedev): major bits 0-11 at 8-19 and 12-31 at 44-63;
 * minor bits 0-7 at 0-7 and 8-31 at 20-43.
 *
 * @example
 * makedev(8, 1) === 0x801n
 */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffn) << 8n) | ((ma & 0xfffff000n) << 32n) | (mi & 0xffn) | ((mi & 0xffffff00n) << 12n);
}

/**
 * The major number of a `dev_t` as found in `fs.Stats.rdev` (glibc's gnu_dev_major).
 *
 * @example
 * devMajor(fs.lstatSync('/dev/null').rdev) === 1
 */
export function devMajor(rdev: number | bigint): number {
  const dev = BigInt(rdev);
  return Number(((dev & 0xfff00n) >> 8n) | ((dev >> 32n) & 0xfffff000n));
}

/**
 * The minor number of a `dev_t` (glibc's gnu_dev_minor).
 *
 * @example
 * devMinor(fs.lstatSync('/dev/null').rdev) === 3
 */
export function devMinor(rdev: number | bigint): number {
  const dev = BigInt(rdev);
  return Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n));
}

/**
 * Creates a character device, block device or FIFO at `path` (never following a final symlink:
 * mknod(2) fails with EEXIST on any existing name). `mode` is the permission bits; the process
 * umask applies as with mknod(2), so chmod afterwards when the exact mode matters.
 * Throws SysError: EEXIST, ENOENT (parent missing), EPERM (no CAP_MKNOD), EOVERFLOW (major >
 * 4095 or minor > 1048575, beyond what the kernel stores).
 *
 * @example
 * mknod(join(diff, 'gone.txt'), 'char', 0o000, 0, 0); // an overlay whiteout
 */
export function mknod(path: string, kind: NodeKind, mode: number, major = 0, minor = 0): void {
  const bad = (n: number, max: number): boolean => !Number.isInteger(n) || n < 0 || n > max;
  if (kind !== 'fifo' && (bad(major, MAX_MAJOR) || bad(minor, MAX_MINOR))) {
    throw new SysError(EOVERFLOW, { syscall: 'mknod', path, detail: `device ${major}:${minor} out of range` });
  }
  const dev = kind === 'fifo' ? 0n : makedev(major, minor);
  check(libc('mknod')(cString(path, 'mknod'), TYPE_BITS[kind] | (mode & 0o7777), dev), { syscall: 'mknod', path });
}
