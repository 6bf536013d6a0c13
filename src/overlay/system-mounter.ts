/**
 * The Mounter that performs the snapshotters' mounts (src/snapshots/mount.ts) on the real kernel,
 * and the MountTable that tells whether a snapshot's directory is in a live mount. The mount API
 * for overlay is decided once, when the mounter is made: the new one (`lowerdir+` per layer,
 * no page limit) where the kernel has it, else mount(2). fuse-overlayfs mounts run the program
 * the mount names (src/sys/fuse-overlayfs.ts) and are unmounted with umount2 like the others.
 */
import { realpathSync } from 'node:fs';
import { ShibafuError } from '../errors.js';
import type { Mount, Mounter, MountTable } from '../snapshots/mount.js';
import { mount as sysMount, MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT } from '../sys/mount-api.js';
import { awaitDaemonExit, FUSE_OVERLAY_FSTYPE, fuseOverlayDaemons, fuseOverlayUses, mountFuseOverlay } from '../sys/fuse-overlayfs.js';
import { isOnFuse, mountAt, readMountInfo, unescapeMountField, type MountInfoEntry } from '../sys/mount-info.js';
import { fromSystemError } from '../errors.js';
import { mountOverlay, unmountOverlay, type MountApi } from './mount-overlay.js';
import { planOverlayMount } from './plan-overlay-mount.js';
import { probeOverlay } from './probe-overlay.js';

export interface SystemMounterOptions {
  /** An always-empty dir: the second lower of a read-only one-layer overlay (the kernel needs two). */
  readonly emptyDir: string;
  readonly api?: MountApi;
}

/**
 * @example
 * const mounter = systemMounter({ emptyDir: layout.empty });
 * mounter.mount(snapshotter.prepare('c1', top), '/var/lib/shibafu/containers/c1/merged');
 */
export function systemMounter(options: SystemMounterOptions): Mounter & MountTable {
  let api: 'new' | 'legacy' | undefined = options.api === 'new' || options.api === 'legacy' ? options.api : undefined;
  const decided = (): 'new' | 'legacy' => (api ??= probeOverlay().lowerdirPlus ? 'new' : 'legacy');
  return {
    overlayApi: decided,
    mount(mounts: readonly Mount[], target: string): void {
      for (const m of mounts) {
        switch (m.type) {
          case 'overlay': {
            const plan = planOverlayMount({
              lowers: m.lowers, target, emptyDir: options.emptyDir,
              ...(m.upper !== undefined ? { upper: m.upper, work: m.work } : {}),
              options: { volatile: m.volatile === true, readonly: m.upper === undefined },
            });
            // The short names only serve mount(2): the new API takes every full path.
            const legacy = decided() === 'legacy' ? m.legacyNames : undefined;
            const shortLinks = legacy === undefined ? undefined
              : { cwd: legacy.cwd, links: new Map(m.lowers.map((dir, i) => [dir, legacy.names[i] as string])) };
            mountOverlay(plan, { api: decided(), ...(shortLinks === undefined ? {} : { shortLinks }) });
            break;
          }
          case 'bind':
            bindMount(m.source, target, m.readonly);
            break;
          case 'fuse-overlayfs':
            mountFuseOverlay(m, target);
            break;
        }
      }
    },
    unmount: (target, opts = {}) => unmount(target, opts.lazy === true),
    isMounted: (target) => mountAt(target) !== undefined,
    isInUse: (dir) => {
      const entries = readMountInfo();
      if (dirInUse(dir, entries)) return true;
      // mountinfo names no dirs of a FUSE mount; its daemon's command line does. /proc is read
      // only when such a mount exists, so kernel-overlay stores pay nothing for it.
      return entries.some((e) => e.fsType === FUSE_OVERLAY_FSTYPE) && fuseOverlayUses(dir, fuseOverlayDaemons());
    },
  };
}

/**
 * umount2 for every kind, fuse-overlayfs included: as root it is the same call fusermount3 -u
 * makes after its checks for unprivileged users, without a process to start, and with the same
 * EBUSY / MNT_DETACH handling as a kernel overlay. A FUSE unmount returns before the daemon has
 * exited, so a non-lazy one waits for it: when unmount returns nothing writes to the upper any more.
 */
function unmount(target: string, lazy: boolean): boolean {
  // statfs first: only a FUSE mount has a daemon to wait for, and only then is the mount table read.
  if (lazy || !isOnFuse(target)) return unmountOverlay(target, { detach: lazy });
  const entry = mountAt(target);
  if (entry?.fsType !== FUSE_OVERLAY_FSTYPE || lazy) return unmountOverlay(target, { detach: lazy });
  const daemon = fuseOverlayDaemons().findLast((d) => d.mountpoint === entry.mountPoint || realOrSelf(d.mountpoint) === entry.mountPoint);
  const done = unmountOverlay(target, { detach: false });
  if (done && daemon !== undefined && !awaitDaemonExit(daemon.pid)) {
    throw new ShibafuError('TARGET_BUSY', `Cannot unmount "${target}": its fuse-overlayfs daemon (pid ${daemon.pid}) is still running 5 s after the unmount`, {
      hint: `It may still be flushing writes; check it with ps -p ${daemon.pid}.`,
    });
  }
  return done;
}

function bindMount(source: string, target: string, readonly: boolean): void {
  try {
    sysMount(source, target, 'none', MS_BIND | MS_REC, null);
    // A bind mount takes MS_RDONLY only on a remount of itself (mount(2), "Creating a bind mount").
    if (readonly) sysMount('none', target, 'none', MS_REMOUNT | MS_BIND | MS_RDONLY, null);
  } catch (err) {
    throw fromSystemError(err, `bind-mount "${source}" at "${target}"`);
  }
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Whether `dir` is the upper, work dir or a lower of a live overlay, or the root of a bind mount
 * (a bind of a subvolume or dataset shows its path within its file system as the mount's root).
 * A lower named by a relative path (the legacy mount(2)'s short names, relative to the storage
 * root it ran in) is shown as given, and mountinfo keeps no working directory to place it: any dir
 * whose path ends with that name counts as in use (another store's snapshot of the same id may be
 * refused a removal while such a mount lives; never the reverse).
 */
export function dirInUse(dir: string, entries: readonly MountInfoEntry[]): boolean {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return false;
  }
  for (const e of entries) {
    if (e.fsType === 'overlay' && overlayDirs(e.superOptions).some((d) => d === real || (!d.startsWith('/') && real.endsWith(`/${d}`)))) return true;
  }
  // A bind: the same file system, and a mount root that is dir's path inside it. The file system
  // is named by the device of the mount holding dir as mountinfo prints it (the superblock's), not
  // by dir's st_dev: btrfs gives every subvolume its own st_dev (measured: 0:48 for a subvolume,
  // 0:47 for the top level, 0:46 in mountinfo for both and for every bind of them).
  const holder = mountAt(real, entries) ?? containingMount(real, entries);
  if (holder === undefined) return false;
  const inFs = `${holder.root === '/' ? '' : holder.root}${real.slice(holder.mountPoint === '/' ? 0 : holder.mountPoint.length)}` || '/';
  return entries.some((e) => e.majorMinor === holder.majorMinor && e.root === inFs && e.mountPoint !== real);
}

function containingMount(path: string, entries: readonly MountInfoEntry[]): MountInfoEntry | undefined {
  let best: MountInfoEntry | undefined;
  for (const e of entries) {
    const mp = e.mountPoint;
    if (path === mp || path.startsWith(mp === '/' ? '/' : `${mp}/`)) {
      if (best === undefined || mp.length >= best.mountPoint.length) best = e;
    }
  }
  return best;
}

/** upperdir, workdir and every lowerdir named in an overlay's super options. */
function overlayDirs(superOptions: string): string[] {
  const dirs: string[] = [];
  for (const opt of superOptions.split(',')) {
    const eq = opt.indexOf('=');
    if (eq < 0) continue;
    const key = opt.slice(0, eq);
    const value = unescapeMountField(opt.slice(eq + 1));
    if (key === 'upperdir' || key === 'workdir' || key === 'lowerdir+' || key === 'datadir+') dirs.push(value);
    else if (key === 'lowerdir') dirs.push(...value.split(/(?<!\\):/).map((d) => d.replace(/\\:/g, ':')));
  }
  return dirs;
}
