/**
 * The kernel-backed ports: src/sys functions behind the store's narrow interfaces.
 */
import { copyFile } from '../sys/copy-file.js';
import { tryLock } from '../sys/flock.js';
import { mknod } from '../sys/mknod.js';
import { syncfs, syncfsInBackground } from '../sys/sync.js';
import { futimens, lutimens } from '../sys/utimens.js';
import { lgetxattr, llistxattr, lsetxattr } from '../sys/xattr.js';
import { mountOverlay, unmountOverlay } from '../overlay/mount-overlay.js';
import { planOverlayMount } from '../overlay/plan-overlay-mount.js';
import { probeOverlay } from '../overlay/probe-overlay.js';
import { mountAt } from '../sys/mount-info.js';
import type { OverlayRequest, StorePorts } from './ports.js';

/**
 * The real ports (koffi is loaded lazily by each call, so opening a store costs nothing).
 * `emptyDir` is an always-empty directory of the store: the kernel refuses a read-only overlay of a
 * single lower, so a one-layer stack gets it as a second, empty, bottom layer.
 */
export function realPorts(emptyDir: string): StorePorts {
  return {
    mknod: (path, kind, mode, major, minor) => mknod(path, kind, mode, major, minor),
    lsetxattr: (path, name, value) => lsetxattr(path, name, value),
    futimens: (fd, atime, mtime) => futimens(fd, atime, mtime),
    lutimens: (path, atime, mtime) => lutimens(path, atime, mtime),
    lgetxattr: (path, name) => lgetxattr(path, name),
    llistxattr: (path) => llistxattr(path),
    tryLock: (fd, exclusive) => tryLock(fd, exclusive),
    syncfs: (fd) => syncfs(fd),
    syncfsInBackground: (fd) => syncfsInBackground(fd),
    copyFile: (src, dst, mode) => copyFile(src, dst, mode),
    mountOverlay: (req) => mountRequest(req, emptyDir),
    unmount: (target, lazy) => unmountOverlay(target, { detach: lazy }),
    isOverlayMounted: (target) => mountAt(target)?.fsType === 'overlay',
    supportsLowerdirPlus: () => probeOverlay().lowerdirPlus,
  };
}

function mountRequest(req: OverlayRequest, emptyDir: string): 'new' | 'legacy' {
  const plan = planOverlayMount({
    lowers: req.lowers,
    ...(req.upper !== undefined ? { upper: req.upper, work: req.work } : {}),
    target: req.target,
    options: { volatile: req.volatile === true },
    emptyDir,
  });
  const shortLinks = req.short === undefined ? undefined
    : { cwd: req.short.cwd, links: new Map(req.lowers.map((dir, i) => [dir, req.short!.names[i] as string])) };
  return mountOverlay(plan, { api: req.api, ...(shortLinks !== undefined ? { shortLinks } : {}) });
}
