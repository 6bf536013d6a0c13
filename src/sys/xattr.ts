/**
 * Extended attributes, by path without following symlinks (l*) and by file descriptor (f*).
 * Overlay keeps its on-disk state in them (`trusted.overlay.opaque=y` marks an opaque directory),
 * and layers carry file capabilities and ACLs (`security.capability`, `system.posix_acl_access`).
 */
import { check, cString, lastErrno, libc } from './libc.js';
import { ERRNO, SysError, type SysErrorContext } from './sys-error.js';

/** setxattr flag: fail with EEXIST if the attribute exists. */
export const XATTR_CREATE = 1;
/** setxattr flag: fail with ENODATA if the attribute does not exist. */
export const XATTR_REPLACE = 2;

const { ENODATA, ENOTSUP, ERANGE } = ERRNO;

/**
 * Linux caps an xattr value and a name list at 64 KiB (XATTR_SIZE_MAX, XATTR_LIST_MAX), so one
 * call into a buffer this size gets any of them: one syscall per read instead of a size query
 * and a fill (walks list the xattrs of every node; 700 of a commit's 1,300 nodes have some).
 */
const SCRATCH = Buffer.alloc(65536);

/**
 * Calls a getxattr/listxattr-style function into the scratch buffer and copies out what it got;
 * should a file system ever report ERANGE for 64 KiB, falls back to a size query then a fill,
 * until the buffer fits (the value may grow between the two calls, reported as ERANGE again).
 * Returns null when the attribute does not exist (ENODATA), or when the file system keeps no
 * xattrs at all (ENOTSUP: zfs-fuse), which has none to read; setting one there still fails.
 */
function readSized(call: (buf: Buffer | null, size: number) => number, context: SysErrorContext): Buffer | null {
  const first = call(SCRATCH, SCRATCH.length);
  if (first >= 0) return Buffer.from(SCRATCH.subarray(0, first));
  const errno = lastErrno();
  if (errno === ENODATA || errno === ENOTSUP) return null;
  if (errno !== ERANGE) throw new SysError(errno, context);
  for (;;) {
    const size = call(null, 0);
    if (size < 0) {
      const errno = lastErrno();
      if (errno === ENODATA) return null;
      throw new SysError(errno, context);
    }
    if (size === 0) return Buffer.alloc(0);
    const buf = Buffer.alloc(size);
    const got = call(buf, size);
    if (got >= 0) return buf.subarray(0, got);
    const errno = lastErrno();
    if (errno === ENODATA) return null;
    if (errno !== ERANGE) throw new SysError(errno, context);
  }
}

function splitNames(list: Buffer | null): string[] {
  if (list === null || list.length === 0) return [];
  return list.toString('utf8').split('\0').filter((name) => name !== '');
}

/**
 * The value of xattr `name` on `path` itself (a symlink's own attributes, not its target's),
 * or null if it has none.
 *
 * @example
 * const opaque = lgetxattr(dir, 'trusted.overlay.opaque')?.toString() === 'y';
 */
export function lgetxattr(path: string, name: string): Buffer | null {
  const fn = libc('lgetxattr');
  const p = cString(path, 'lgetxattr');
  const n = cString(name, 'lgetxattr');
  return readSized((buf, size) => fn(p, n, buf, size), { syscall: 'lgetxattr', path, detail: name });
}

/**
 * Sets xattr `name` on `path` itself. `flags` is 0, XATTR_CREATE or XATTR_REPLACE.
 * Throws SysError: ENOTSUP (file system or namespace without xattrs), EPERM (trusted.* needs
 * CAP_SYS_ADMIN), EEXIST / ENODATA (with the flags above).
 *
 * @example
 * lsetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
 */
export function lsetxattr(path: string, name: string, value: Buffer, flags = 0): void {
  const ret = libc('lsetxattr')(cString(path, 'lsetxattr'), cString(name, 'lsetxattr'), value, value.length, flags);
  check(ret, { syscall: 'lsetxattr', path, detail: name });
}

/**
 * The names of all xattrs on `path` itself, in the file system's order. Names in namespaces the
 * caller may not read (trusted.* without CAP_SYS_ADMIN) are left out by the kernel.
 *
 * @example
 * llistxattr(file) // ['security.capability', 'user.note']
 */
export function llistxattr(path: string): string[] {
  const fn = libc('llistxattr');
  const p = cString(path, 'llistxattr');
  return splitNames(readSized((buf, size) => fn(p, buf, size), { syscall: 'llistxattr', path }));
}

/**
 * Removes xattr `name` from `path` itself. Throws SysError ENODATA if it was not there.
 *
 * @example
 * lremovexattr(dir, 'trusted.overlay.opaque');
 */
export function lremovexattr(path: string, name: string): void {
  check(libc('lremovexattr')(cString(path, 'lremovexattr'), cString(name, 'lremovexattr')), {
    syscall: 'lremovexattr',
    path,
    detail: name,
  });
}

/**
 * Like lgetxattr, on an open file descriptor.
 *
 * @example
 * const caps = fgetxattr(fd, 'security.capability');
 */
export function fgetxattr(fd: number, name: string): Buffer | null {
  const fn = libc('fgetxattr');
  const n = cString(name, 'fgetxattr');
  return readSized((buf, size) => fn(fd, n, buf, size), { syscall: 'fgetxattr', path: `fd ${fd}`, detail: name });
}

/**
 * Like lsetxattr, on an open file descriptor (the importer writes through fds it just created).
 *
 * @example
 * fsetxattr(fd, 'user.origin', Buffer.from('layer.tar'));
 */
export function fsetxattr(fd: number, name: string, value: Buffer, flags = 0): void {
  const ret = libc('fsetxattr')(fd, cString(name, 'fsetxattr'), value, value.length, flags);
  check(ret, { syscall: 'fsetxattr', path: `fd ${fd}`, detail: name });
}

/**
 * Like llistxattr, on an open file descriptor.
 *
 * @example
 * flistxattr(fd) // ['user.note']
 */
export function flistxattr(fd: number): string[] {
  const fn = libc('flistxattr');
  return splitNames(readSized((buf, size) => fn(fd, buf, size), { syscall: 'flistxattr', path: `fd ${fd}` }));
}

/**
 * Like lremovexattr, on an open file descriptor.
 *
 * @example
 * fremovexattr(fd, 'user.note');
 */
export function fremovexattr(fd: number, name: string): void {
  check(libc('fremovexattr')(fd, cString(name, 'fremovexattr')), {
    syscall: 'fremovexattr',
    path: `fd ${fd}`,
    detail: name,
  });
}
