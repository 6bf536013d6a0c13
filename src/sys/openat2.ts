/**
 * Opening a file strictly beneath a directory, as the kernel guarantees it: openat2(2) (Linux 5.6)
 * with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS resolves every component of
 * the path without following any symlink and never leaves the directory, in one call, with no
 * window between a check and the open. O_NOFOLLOW alone only covers the last component: a
 * directory swapped for a symlink behind shibafu's back would otherwise take a read anywhere.
 *
 * Where openat2 is missing (ENOSYS: an older kernel, or a seccomp filter that hides it), the same
 * rule is kept by walking the path one component at a time with openat(O_NOFOLLOW | O_DIRECTORY)
 * from the directory's fd: slower (one open per component) but just as strict.
 */
import { closeSync, constants, fstatSync } from 'node:fs';
import { check, cString, lastErrno, libc } from './libc.js';
import { SysError } from './sys-error.js';

/** Refuse to resolve across a mount point. */
export const RESOLVE_NO_XDEV = 0x01;
/** Refuse /proc/PID/fd-style magic links. */
export const RESOLVE_NO_MAGICLINKS = 0x02;
/** Refuse every symlink, in any component (ELOOP). */
export const RESOLVE_NO_SYMLINKS = 0x04;
/** Refuse to leave the starting directory: "..", absolute paths and links out give EXDEV. */
export const RESOLVE_BENEATH = 0x08;

/** What `openBeneath` asks of the kernel. */
export const RESOLVE_STRICT = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

// The asm-generic values (x86-64, arm64, riscv64; not alpha, parisc or sparc). node:fs exports
// neither (libuv adds O_CLOEXEC itself). Without O_CLOEXEC a raw fd would leak into runc.
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const ENOSYS = 38;
const ELOOP = 40;
const ENOTDIR = 20;
const EXDEV = 18;

export interface OpenHow {
  /** open(2) flags (O_RDONLY, O_DIRECTORY, ...). */
  readonly flags: number;
  /** Permission bits for O_CREAT / O_TMPFILE, else 0. */
  readonly mode?: number;
  /** RESOLVE_* flags. */
  readonly resolve: number;
}

/**
 * openat2(2): struct open_how { u64 flags; u64 mode; u64 resolve; } in native byte order.
 * Throws SysError (ENOSYS where the kernel lacks it, ELOOP for a refused symlink, EXDEV for a path
 * that would leave `dirFd`).
 *
 * @example
 * const fd = openat2(rootFd, 'etc/passwd', { flags: constants.O_RDONLY, resolve: RESOLVE_STRICT });
 */
export function openat2(dirFd: number, path: string, how: OpenHow): number {
  const raw = new BigUint64Array([BigInt(how.flags), BigInt(how.mode ?? 0), BigInt(how.resolve)]);
  const buf = Buffer.from(raw.buffer);
  const ret = libc('openat2')(dirFd, cString(path, 'openat2'), buf, buf.length);
  return check(ret, { syscall: 'openat2', path });
}

/** Set once openat2 answered ENOSYS, so the fallback is chosen once per process, not per file. */
let openat2Missing = false;

export interface OpenBeneathOptions {
  /** Extra open(2) flags (default O_RDONLY). O_NOFOLLOW and O_CLOEXEC are always added. */
  readonly flags?: number;
  /** Take the component walk even where openat2 exists (tests of the fallback). */
  readonly walk?: boolean;
}

/**
 * Opens `rel` (relative, "/"-separated) strictly beneath the open directory `dirFd`, following no
 * symlink in any component. Returns a raw fd for node:fs's fd calls (`readSync`, `fstatSync`,
 * `closeSync`). Throws SysError: ELOOP when a component is a symlink, EXDEV when `rel` is
 * absolute or climbs out with "..", ENOENT, ENOTDIR as open(2) does.
 *
 * @example
 * const root = openSync(diffDir, constants.O_RDONLY | constants.O_DIRECTORY);
 * const fd = openBeneath(root, 'usr/bin/env');
 */
export function openBeneath(dirFd: number, rel: string, options: OpenBeneathOptions = {}): number {
  const flags = (options.flags ?? constants.O_RDONLY) | constants.O_NOFOLLOW | O_CLOEXEC;
  if (options.walk !== true && !openat2Missing) {
    try {
      return openat2(dirFd, rel, { flags, resolve: RESOLVE_STRICT });
    } catch (err) {
      if (!(err instanceof SysError) || err.errno !== ENOSYS) throw err;
      openat2Missing = true;
    }
  }
  return walkBeneath(dirFd, rel, flags);
}

/** The fallback: one openat per component, each refusing a symlink, none allowed to climb. */
function walkBeneath(dirFd: number, rel: string, flags: number): number {
  if (rel.startsWith('/')) throw new SysError(EXDEV, { syscall: 'openat', path: rel });
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new SysError(EXDEV, { syscall: 'openat', path: rel });
  if (parts.length === 0) throw new SysError(EXDEV, { syscall: 'openat', path: rel });
  const openat = libc('openat');
  let fd = dirFd;
  try {
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      const ret = openat(fd, cString(parts[i] as string, 'openat'), last ? flags : constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | O_CLOEXEC);
      if (ret < 0) {
        const errno = lastErrno();
        const path = parts.slice(0, i + 1).join('/');
        // O_NOFOLLOW | O_DIRECTORY on a symlink answers ENOTDIR (measured on 6.18), not ELOOP:
        // say ELOOP, as openat2 does, when the component is a link.
        throw new SysError(errno === ENOTDIR && !last && isSymlinkAt(fd, parts[i] as string) ? ELOOP : errno, { syscall: 'openat', path });
      }
      if (fd !== dirFd) closeSync(fd);
      fd = ret;
    }
    return fd;
  } catch (err) {
    if (fd !== dirFd) closeSync(fd);
    throw err;
  }
}

/** Whether `name` in `dirFd` is a symlink, through an O_PATH fd (which fstat reads without following). */
function isSymlinkAt(dirFd: number, name: string): boolean {
  const fd = libc('openat')(dirFd, name, O_PATH | constants.O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  try {
    return fstatSync(fd).isSymbolicLink();
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `err` is the kernel refusing a path for leaving the directory or crossing a symlink
 * (what RESOLVE_STRICT and the walk report), as opposed to a plain missing file.
 *
 * @example
 * catch (err) { if (isResolveRefusal(err)) throw tampered(rel); }
 */
export function isResolveRefusal(err: unknown): boolean {
  return err instanceof SysError && (err.errno === ELOOP || err.errno === EXDEV);
}
