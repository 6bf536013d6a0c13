/**
 * Btrfs subvolumes through their ioctls (include/uapi/linux/btrfs.h), the calls `btrfs subvolume
 * create|snapshot|delete` and `btrfs property set ro` make, without a process per call. A
 * subvolume is a directory tree with its own b-tree: a snapshot of it shares every extent and
 * costs one transaction whatever the tree's size, and a read-only flag on it is enforced by the
 * file system itself, whatever the mount.
 *
 * Errors: ENOTTY (the ioctl is unknown to the file system) and EXDEV (source and destination on
 * different file systems) mean "not btrfs here" and become ShibafuError UNSUPPORTED naming btrfs;
 * every other failure is a SysError for the caller to branch on (ENOENT, EEXIST, EBUSY, ...).
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, realpathSync, statfsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ShibafuError } from '../errors.js';
import { libc, lastErrno } from './libc.js';
import { readMountInfo } from './mount-info.js';
import { SysError, isSysError } from './sys-error.js';

/** The ioctl numbers (`_IOW(0x94, nr, size)`), checked against the header with a C program. */
const BTRFS_IOC_SUBVOL_CREATE = 0x5000940e; // _IOW(0x94, 14, struct btrfs_ioctl_vol_args)
const BTRFS_IOC_SNAP_DESTROY = 0x5000940f; // _IOW(0x94, 15, struct btrfs_ioctl_vol_args)
const BTRFS_IOC_SNAP_CREATE_V2 = 0x50009417; // _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2)
const BTRFS_IOC_SUBVOL_GETFLAGS = 0x80089419; // _IOR(0x94, 25, __u64)
const BTRFS_IOC_SUBVOL_SETFLAGS = 0x4008941a; // _IOW(0x94, 26, __u64)
/** BTRFS_SUBVOL_RDONLY (1ULL << 1): the subvolume's flag, and a flag of SNAP_CREATE_V2. */
const BTRFS_SUBVOL_RDONLY = 2n;

/**
 * struct btrfs_ioctl_vol_args { __s64 fd; char name[BTRFS_PATH_NAME_MAX + 1]; } (4096 bytes) and
 * struct btrfs_ioctl_vol_args_v2 { __s64 fd; __u64 transid; __u64 flags; union { ... __u64
 * unused[4]; }; char name[BTRFS_SUBVOL_NAME_MAX + 1]; } (4096 bytes, name at 56, offsetof checked
 * with a C program).
 */
const VOL_ARGS_SIZE = 4096;
const VOL_ARGS_NAME_OFFSET = 8;
const VOL_ARGS_NAME_MAX = 4087;
const VOL_ARGS_V2_NAME_OFFSET = 56;
const VOL_ARGS_V2_NAME_MAX = 4039;

/** statfs f_type of btrfs (include/uapi/linux/magic.h). */
export const BTRFS_SUPER_MAGIC = 0x9123683e;
/** BTRFS_FIRST_FREE_OBJECTID: the inode number of every subvolume's root directory. */
const SUBVOLUME_ROOT_INO = 256n;

/**
 * Whether `path` is on a btrfs file system.
 *
 * @example
 * if (!onBtrfs('/var/lib/shibafu')) ...
 */
export function onBtrfs(path: string): boolean {
  return statfsSync(path).type === BTRFS_SUPER_MAGIC;
}

/**
 * Whether `path` is the root of a btrfs subvolume (false when it does not exist).
 *
 * @example
 * isSubvolume('/mnt/btrfs/snapshots/7') // true
 */
export function isSubvolume(path: string): boolean {
  try {
    const st = lstatSync(path, { bigint: true });
    return st.isDirectory() && st.ino === SUBVOLUME_ROOT_INO && onBtrfs(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Creates an empty subvolume at `path` (its parent must exist, on btrfs). EEXIST if taken.
 *
 * @example
 * createSubvolume('/mnt/btrfs/snapshots/staged-ab12');
 */
export function createSubvolume(path: string): void {
  const args = volArgs(basename(path), VOL_ARGS_NAME_MAX, VOL_ARGS_NAME_OFFSET, 'create subvolume');
  withDir(dirname(path), (dirFd) => ioctl(dirFd, BTRFS_IOC_SUBVOL_CREATE, args, path, 'create subvolume'));
}

/**
 * Makes `dest` a snapshot of the subvolume `source` (same file system): writable, or read-only
 * with `readonly`. It shares every extent with the source and costs one transaction, not a copy.
 *
 * @example
 * snapshotSubvolume('/mnt/btrfs/snapshots/7', '/mnt/btrfs/snapshots/staged-cd34', { readonly: false });
 */
export function snapshotSubvolume(source: string, dest: string, options: { readonly readonly: boolean }): void {
  withDir(source, (srcFd) => {
    const args = volArgs(basename(dest), VOL_ARGS_V2_NAME_MAX, VOL_ARGS_V2_NAME_OFFSET, 'snapshot subvolume');
    args.writeBigInt64LE(BigInt(srcFd), 0);
    args.writeBigUInt64LE(options.readonly ? BTRFS_SUBVOL_RDONLY : 0n, 16);
    withDir(dirname(dest), (dirFd) => ioctl(dirFd, BTRFS_IOC_SNAP_CREATE_V2, args, source, 'snapshot subvolume', dest));
  });
}

/**
 * Whether the subvolume at `path` is read-only (BTRFS_SUBVOL_RDONLY).
 *
 * @example
 * subvolumeReadonly('/mnt/btrfs/snapshots/7') // true once committed
 */
export function subvolumeReadonly(path: string): boolean {
  return withDir(path, (fd) => (getFlags(fd, path) & BTRFS_SUBVOL_RDONLY) !== 0n);
}

/**
 * Sets or clears the subvolume's read-only flag in place (no copy; the kernel commits a
 * transaction). Idempotent.
 *
 * @example
 * setSubvolumeReadonly('/mnt/btrfs/snapshots/7', true);
 */
export function setSubvolumeReadonly(path: string, readonly: boolean): void {
  withDir(path, (fd) => {
    const flags = getFlags(fd, path);
    const wanted = readonly ? flags | BTRFS_SUBVOL_RDONLY : flags & ~BTRFS_SUBVOL_RDONLY;
    if (wanted === flags) return;
    const buf = Buffer.alloc(8);
    buf.writeBigUInt64LE(wanted);
    ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, buf, path, 'set subvolume flags');
  });
}

/**
 * Destroys the subvolume at `path`, and first the subvolumes nested in it (the kernel refuses a
 * subvolume that holds others, ENOTEMPTY; containerd's btrfs driver deletes them the same way).
 * A read-only subvolume loses its flag first where it holds nested ones: unlinking them writes
 * to it. SysError EBUSY when something is mounted on it or inside it.
 *
 * The kernel itself refuses neither (measured on 6.18): a mount on the subvolume is silently
 * detached, and a bind of it elsewhere stays mounted but empty. The mounts on and inside it are
 * checked here; a bind of it elsewhere is the caller's to check (the snapshotter asks its
 * MountTable before it removes anything).
 *
 * @example
 * destroySubvolume('/mnt/btrfs/snapshots/7');
 */
export function destroySubvolume(path: string): void {
  const real = realpathSync(path);
  const mounted = readMountInfo().find((e) => e.mountPoint === real || e.mountPoint.startsWith(`${real}/`));
  if (mounted !== undefined) {
    throw new SysError(osConstants.errno.EBUSY, { syscall: 'ioctl(destroy subvolume)', path, detail: `${mounted.mountPoint} is mounted` });
  }
  try {
    snapDestroy(path);
  } catch (err) {
    if (!isSysError(err, 'ENOTEMPTY')) throw err;
    setSubvolumeReadonly(path, false);
    for (const nested of nestedSubvolumes(path)) destroySubvolume(nested);
    snapDestroy(path);
  }
}

function snapDestroy(path: string): void {
  const args = volArgs(basename(path), VOL_ARGS_NAME_MAX, VOL_ARGS_NAME_OFFSET, 'destroy subvolume');
  withDir(dirname(path), (dirFd) => ioctl(dirFd, BTRFS_IOC_SNAP_DESTROY, args, path, 'destroy subvolume'));
}

/**
 * The subvolumes directly nested in the subvolume `root`: directories with inode 256 on another
 * device number (btrfs gives each subvolume its own). The walk does not enter them, nor other
 * mounts (another device, another inode number).
 */
function nestedSubvolumes(root: string): string[] {
  const found: string[] = [];
  const rootDev = lstatSync(root, { bigint: true }).dev;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const p = join(dir, entry.name);
      const st = lstatSync(p, { bigint: true });
      if (st.dev === rootDev) walk(p);
      else if (st.ino === SUBVOLUME_ROOT_INO) found.push(p);
    }
  };
  walk(root);
  return found;
}

function getFlags(fd: number, path: string): bigint {
  const buf = Buffer.alloc(8);
  ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, buf, path, 'read subvolume flags');
  return buf.readBigUInt64LE();
}

/** A zeroed vol_args struct with `name` NUL-terminated at `offset`. */
function volArgs(name: string, max: number, offset: number, action: string): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length === 0 || bytes.length > max || name.includes('/') || name.includes('\0')) {
    throw new SysError(osConstants.errno.EINVAL, { syscall: `ioctl(${action})`, path: name });
  }
  const args = Buffer.alloc(VOL_ARGS_SIZE);
  bytes.copy(args, offset);
  return args;
}

function withDir<T>(dir: string, fn: (fd: number) => T): T {
  // Node's own error when it cannot be opened (ENOENT, ENOTDIR): the same `code` a SysError has.
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

function ioctl(fd: number, request: number, arg: Buffer, path: string, action: string, dest?: string): void {
  if (libc('ioctl')(fd, request, 'void *', arg) >= 0) return;
  const sysErr = new SysError(lastErrno(), { syscall: `ioctl(${action})`, path, ...(dest === undefined ? {} : { dest }) });
  const code = sysErr.code;
  if (code === 'ENOTTY' || code === 'EXDEV') {
    const where = dest === undefined ? `'${path}'` : `'${path}' as '${dest}'`;
    throw new ShibafuError('UNSUPPORTED', `Cannot ${action} ${where}: ${code === 'ENOTTY' ? 'it is not on a btrfs file system' : 'source and destination are not on one btrfs file system'}`, {
      hint: 'The btrfs driver needs its root on btrfs (mkfs.btrfs a device and mount it there), or create the store with --storage-driver overlay.',
      cause: sysErr,
    });
  }
  throw sysErr;
}
