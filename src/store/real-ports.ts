/**
 * The kernel-backed ports: src/sys functions behind the store's narrow interfaces.
 */
import { copyFile } from '../sys/copy-file.js';
import { tryLock } from '../sys/flock.js';
import { mknod } from '../sys/mknod.js';
import { syncfs, syncfsInBackground } from '../sys/sync.js';
import { futimens, lutimens } from '../sys/utimens.js';
import { lgetxattr, llistxattr, lremovexattr, lsetxattr } from '../sys/xattr.js';
import type { StorePorts } from './ports.js';

/**
 * The real ports (koffi is loaded lazily by each call, so opening a store costs nothing).
 */
export function realPorts(): StorePorts {
  return {
    mknod: (path, kind, mode, major, minor) => mknod(path, kind, mode, major, minor),
    lsetxattr: (path, name, value) => lsetxattr(path, name, value),
    futimens: (fd, atime, mtime) => futimens(fd, atime, mtime),
    lutimens: (path, atime, mtime) => lutimens(path, atime, mtime),
    lgetxattr: (path, name) => lgetxattr(path, name),
    llistxattr: (path) => llistxattr(path),
    lremovexattr: (path, name) => lremovexattr(path, name),
    tryLock: (fd, exclusive) => tryLock(fd, exclusive),
    syncfs: (fd) => syncfs(fd),
    syncfsInBackground: (fd) => syncfsInBackground(fd),
    copyFile: (src, dst, mode) => copyFile(src, dst, mode),
  };
}
