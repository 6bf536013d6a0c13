/**
 * Mounting: the new mount API (fsopen, fsconfig, fsmount, move_mount; Linux 5.2+) and the legacy
 * mount(2) / umount2(2). The new API builds a file-system context one parameter per call, so
 * overlay takes one `lowerdir+` per layer (Linux 6.8+) and the one-page limit of mount(2)'s
 * option string no longer bounds the stack; its only bound is overlay's own 500 lowers.
 */
import { readSync } from 'node:fs';
import { check, cString, lastErrno, libc } from './libc.js';
import { AT_FDCWD } from './renameat2.js';
import { SysError } from './sys-error.js';

export const FSOPEN_CLOEXEC = 0x1;
export const FSMOUNT_CLOEXEC = 0x1;
/** fsconfig commands (include/uapi/linux/mount.h). */
export const FSCONFIG_SET_FLAG = 0;
export const FSCONFIG_SET_STRING = 1;
export const FSCONFIG_SET_FD = 5;
export const FSCONFIG_CMD_CREATE = 6;
/** fsmount attribute flags. */
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
export const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
/** mount(2) flags. */
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
/** umount2(2) flags. */
export const MNT_FORCE = 0x1;
export const MNT_DETACH = 0x2;
export const UMOUNT_NOFOLLOW = 0x8;

/**
 * fsconfig copies each key and string value with strndup_user(..., 256) (fs/fsopen.c): a value of
 * 256 bytes or more fails with a bare EINVAL and nothing in the context log.
 */
export const FSCONFIG_MAX_STRING = 255;

/**
 * The messages the kernel left in a file-system context (read(2) on the fsopen fd returns one
 * "e overlay: ..." / "w ..." / "i ..." line per call until ENODATA). Reading consumes them.
 *
 * @example
 * readFsContextLog(fsfd) // ['e overlay: too many lower directories, limit is 500']
 */
export function readFsContextLog(fd: number): string[] {
  const lines: string[] = [];
  const buf = Buffer.alloc(1024);
  // The kernel keeps at most 8 messages per context (fc_log); the bound guards a kernel that
  // would keep answering.
  for (let i = 0; i < 16; i++) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch {
      break; // ENODATA: no more messages (or a kernel without the log: nothing to add)
    }
    if (n <= 0) break;
    lines.push(buf.subarray(0, n).toString('utf8').trimEnd());
  }
  return lines;
}

/** Throws the fsconfig failure with the kernel's reason, read from the context log. */
function fsconfigFailed(fd: number, key: string, value: string | undefined): never {
  const errno = lastErrno(); // before readSync, which may set errno (ENODATA at the end)
  const log = readFsContextLog(fd).map((line) => line.replace(/^[ewi] /, ''));
  const reason = log.length > 0 ? log.join('; ') : 'the kernel logged no reason in the fs context (see dmesg)';
  throw new SysError(errno, { syscall: `fsconfig(${key})`, ...(value === undefined ? {} : { path: value }), detail: reason });
}

/**
 * Opens a new file-system context (fsopen(2)); close the fd with fs.closeSync. Throws SysError:
 * ENODEV (no such file system type), ENOSYS (kernel before 5.2), EPERM.
 *
 * @example
 * const fsfd = fsopen('overlay');
 */
export function fsopen(fsName: string, flags = FSOPEN_CLOEXEC): number {
  return check(libc('fsopen')(cString(fsName, 'fsopen'), flags), { syscall: 'fsopen', path: fsName });
}

/**
 * Sets a string parameter (FSCONFIG_SET_STRING). Values are limited to FSCONFIG_MAX_STRING bytes.
 * On failure the SysError's message and `detail` carry the kernel's reason.
 *
 * @example
 * fsconfigString(fsfd, 'lowerdir+', '/var/lib/shibafu/layers/<hex>/diff');
 */
export function fsconfigString(fd: number, key: string, value: string): void {
  const ret = libc('fsconfig')(fd, FSCONFIG_SET_STRING, cString(key, 'fsconfig'), cString(value, 'fsconfig'), 0);
  if (ret < 0) fsconfigFailed(fd, key, value);
}

/**
 * Sets a flag parameter (FSCONFIG_SET_FLAG), such as overlay's `volatile` or the generic `ro`.
 *
 * @example
 * fsconfigFlag(fsfd, 'volatile');
 */
export function fsconfigFlag(fd: number, key: string): void {
  const ret = libc('fsconfig')(fd, FSCONFIG_SET_FLAG, cString(key, 'fsconfig'), null, 0);
  if (ret < 0) fsconfigFailed(fd, key, undefined);
}

/**
 * Sets a parameter to an open file descriptor (FSCONFIG_SET_FD). Overlay accepts it for
 * lowerdir+, upperdir and workdir since Linux 6.13, which frees long paths from the 255-byte limit.
 *
 * @example
 * fsconfigFd(fsfd, 'lowerdir+', fs.openSync(longDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
 */
export function fsconfigFd(fd: number, key: string, valueFd: number): void {
  const ret = libc('fsconfig')(fd, FSCONFIG_SET_FD, cString(key, 'fsconfig'), null, valueFd);
  if (ret < 0) fsconfigFailed(fd, key, `fd ${valueFd}`);
}

/**
 * Creates the superblock from the parameters set (FSCONFIG_CMD_CREATE). Overlay checks the layers
 * as a whole here: at least 2 lowers without an upper, no layer inside another (ELOOP), upper and
 * work on one file system. Some of those reasons reach only dmesg, not the context log.
 *
 * @example
 * fsconfigCreate(fsfd);
 */
export function fsconfigCreate(fd: number): void {
  const ret = libc('fsconfig')(fd, FSCONFIG_CMD_CREATE, null, null, 0);
  if (ret < 0) fsconfigFailed(fd, 'create', undefined);
}

/**
 * Turns a created context into a detached mount (fsmount(2)); returns its fd. `attrFlags` are
 * MOUNT_ATTR_* (read-only, nosuid, ...).
 *
 * @example
 * const mfd = fsmount(fsfd, MOUNT_ATTR_RDONLY);
 */
export function fsmount(fd: number, attrFlags = 0, flags = FSMOUNT_CLOEXEC): number {
  return check(libc('fsmount')(fd, flags, attrFlags), { syscall: 'fsmount', path: `fd ${fd}` });
}

/**
 * Attaches the detached mount `fromFd` at `toPath` (move_mount(2) with MOVE_MOUNT_F_EMPTY_PATH).
 *
 * @example
 * moveMount(mfd, '/var/lib/shibafu/containers/abc/merged');
 */
export function moveMount(fromFd: number, toPath: string): void {
  const ret = libc('move_mount')(fromFd, '', AT_FDCWD, cString(toPath, 'move_mount'), MOVE_MOUNT_F_EMPTY_PATH);
  check(ret, { syscall: 'move_mount', path: toPath });
}

/**
 * The legacy mount(2). `data` is the comma-separated option string; the kernel copies one page of
 * it (4096 bytes on x86_64, NUL included) and silently cuts the rest off, so callers must check
 * its length first (overlay's mountOverlay does).
 *
 * @example
 * mount('shibafu', '/mnt/x', 'overlay', MS_RDONLY, 'lowerdir=/a:/b');
 */
export function mount(source: string, target: string, fsType: string, flags: number, data: string | null): void {
  const ret = libc('mount')(
    cString(source, 'mount'),
    cString(target, 'mount'),
    cString(fsType, 'mount'),
    flags,
    data === null ? null : cString(data, 'mount'),
  );
  check(ret, { syscall: 'mount', path: target });
}

/**
 * umount2(2). Throws SysError: EINVAL (not a mount point), ENOENT, EBUSY (in use, without
 * MNT_DETACH).
 *
 * @example
 * umount2('/mnt/x', MNT_DETACH);
 */
export function umount2(target: string, flags = 0): void {
  check(libc('umount2')(cString(target, 'umount2'), flags), { syscall: 'umount2', path: target });
}
