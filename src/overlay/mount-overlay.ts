/**
 * Carries out an OverlayMountPlan on the real kernel: the new mount API with one `lowerdir+`
 * per layer (measured here: 500 lowers mount and unmount in a few ms, see bench/mount-bench.ts),
 * or legacy mount(2) whose options must fit in one page.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { errnoCode, fromSystemError, ShibafuError } from '../errors.js';
import {
  FSCONFIG_MAX_STRING,
  fsconfigCreate,
  fsconfigFd,
  fsconfigFlag,
  fsconfigString,
  fsmount,
  fsopen,
  MNT_DETACH,
  mount,
  MOUNT_ATTR_RDONLY,
  moveMount,
  MS_RDONLY,
  UMOUNT_NOFOLLOW,
  umount2,
} from '../sys/mount-api.js';
import { isSysError, SysError } from '../sys/sys-error.js';
import { withCwd } from '../sys/with-cwd.js';
import { legacyMountData, type ShortLinks } from './legacy-mount-data.js';
import { WRITABLE_OPTIONS, type OverlayMountPlan } from './plan-overlay-mount.js';
import { probeOverlay } from './probe-overlay.js';

/** 'auto' takes the new API where the kernel has `lowerdir+` (6.8+), else mount(2). */
export type MountApi = 'auto' | 'new' | 'legacy';

export interface MountOverlayOptions {
  api?: MountApi;
  /** Short names for the legacy path (ignored by the new API, which has no page limit). */
  shortLinks?: ShortLinks;
}

/**
 * Sets a path parameter. fsconfig strings stop at 255 bytes (FSCONFIG_MAX_STRING), so a longer
 * path goes as an open directory: FSCONFIG_SET_FD where overlay takes it (6.13+), else the
 * `/proc/self/fd/N` name of that fd, which the kernel resolves like any path.
 */
function configPath(fsfd: number, key: string, path: string, held: number[]): void {
  if (Buffer.byteLength(path) <= FSCONFIG_MAX_STRING) {
    fsconfigString(fsfd, key, path);
    return;
  }
  const dirFd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  held.push(dirFd);
  if (probeOverlay().lowerdirFd) fsconfigFd(fsfd, key, dirFd);
  else fsconfigString(fsfd, key, `/proc/self/fd/${dirFd}`);
}

function mountNew(plan: OverlayMountPlan): void {
  const held: number[] = [];
  const fsfd = fsopen('overlay');
  try {
    fsconfigString(fsfd, 'source', plan.source);
    // The first lowerdir+ is the top layer: plan.lowers is already top first.
    for (const lower of plan.lowers) configPath(fsfd, 'lowerdir+', lower, held);
    if (plan.upper !== undefined && plan.work !== undefined) {
      configPath(fsfd, 'upperdir', plan.upper, held);
      configPath(fsfd, 'workdir', plan.work, held);
      for (const [key, value] of WRITABLE_OPTIONS) fsconfigString(fsfd, key, value);
    }
    if (plan.flags.volatile) fsconfigFlag(fsfd, 'volatile');
    // "ro" makes the superblock read-only (no copy-up into the upper); MOUNT_ATTR_RDONLY the mount.
    if (plan.flags.readonly) fsconfigFlag(fsfd, 'ro');
    fsconfigCreate(fsfd);
    const mfd = fsmount(fsfd, plan.flags.readonly ? MOUNT_ATTR_RDONLY : 0);
    try {
      moveMount(mfd, plan.target);
    } finally {
      closeSync(mfd);
    }
  } finally {
    closeSync(fsfd);
    for (const fd of held) closeSync(fd);
  }
}

function mountLegacy(plan: OverlayMountPlan, shortLinks: ShortLinks | undefined): void {
  const data = legacyMountData(plan, shortLinks);
  const flags = plan.flags.readonly ? MS_RDONLY : 0;
  const call = (): void => mount(plan.source, plan.target, plan.fsType, flags, data);
  if (shortLinks === undefined) call();
  else withCwd(shortLinks.cwd, call);
}

/** One catalog error for a failed mount, naming the path and the kernel's reason. */
function mountFailure(err: unknown, plan: OverlayMountPlan): ShibafuError {
  if (err instanceof ShibafuError) return err;
  const code = errnoCode(err);
  const where = `Cannot mount overlay at "${plan.target}"`;
  const path = (err as { path?: unknown }).path;
  const named = typeof path === 'string' ? `"${path}"` : 'a lower, upper or work dir or the mount point';
  const reason = err instanceof SysError ? `${err.syscall} failed with ${err.code}${err.detail === undefined ? '' : `: ${err.detail}`}` : String(code);
  switch (code) {
    case 'ENOENT':
      return new ShibafuError('SOURCE_NOT_FOUND', `${where}: ${named} does not exist`, { cause: err });
    case 'ENOTDIR':
      return new ShibafuError('PATH_CONFLICT', `${where}: ${named} is not a directory`, { cause: err });
    case 'ELOOP':
      return new ShibafuError('PATH_CONFLICT', `${where}: two layers overlap (one directory twice, or one inside another)`, {
        hint: 'Overlay layers, the upper and the work dir must be separate trees (after resolving symlinks).',
        cause: err,
      });
    case 'EBUSY':
      return new ShibafuError('TARGET_BUSY', `${where}: the upper or work dir is in use by another overlay mount`, { cause: err });
    case 'ENODEV':
    case 'ENOSYS':
      return new ShibafuError('UNSUPPORTED', `${where}: ${reason}`, {
        hint: 'shibafu needs a kernel with overlayfs (modprobe overlay) and, for deep stacks, the new mount API (Linux 6.8+).',
        cause: err,
      });
    case 'EPERM':
    case 'EACCES':
    case 'ENOSPC':
    case 'EDQUOT':
      return fromSystemError(err, `mount overlay at "${plan.target}"`);
    default:
      return new ShibafuError('MOUNT_FAILED', `${where}: ${reason}`, { cause: err, hint: 'dmesg may hold more of the kernel\'s reason.' });
  }
}

/**
 * Mounts `plan` at `plan.target`. With `api: 'auto'` (default) it uses the new mount API when the
 * kernel takes `lowerdir+`, else mount(2), for which `shortLinks` lets 500 lowers fit in a page.
 * Returns the API used. Throws a ShibafuError: STACK_TOO_DEEP (legacy options past one page),
 * SOURCE_NOT_FOUND, PATH_CONFLICT, TARGET_BUSY, UNSUPPORTED, PERMISSION_DENIED, or MOUNT_FAILED whose
 * message carries the kernel's own reason (fsconfig's context log).
 *
 * @example
 * mountOverlay(planOverlayMount({ lowers, upper, work, target }), { shortLinks });
 */
export function mountOverlay(plan: OverlayMountPlan, options: MountOverlayOptions = {}): 'new' | 'legacy' {
  const requested = options.api ?? 'auto';
  try {
    const api = requested === 'auto' ? (probeOverlay().lowerdirPlus ? 'new' : 'legacy') : requested;
    if (api === 'new') {
      const probe = probeOverlay();
      // Only a kernel that has the new API but not lowerdir+ is refused up front; a missing API
      // or missing rights fail in fsopen below with their own errno (ENOSYS, EPERM).
      if (probe.newMountApi && !probe.lowerdirPlus) {
        throw new ShibafuError('UNSUPPORTED', `Cannot mount overlay at "${plan.target}" with the new mount API: ${probe.reason ?? 'not supported'}`, {
          hint: 'Use the legacy mount(2) path (api "legacy" or "auto").',
        });
      }
      mountNew(plan);
    } else {
      mountLegacy(plan, options.shortLinks);
    }
    return api;
  } catch (err) {
    throw mountFailure(err, plan);
  }
}

/**
 * Unmounts `target`; idempotent: returns true if something was unmounted, false if nothing was
 * mounted there (EINVAL) or the path does not exist (ENOENT). A final symlink is not followed.
 * `detach` (MNT_DETACH) unmounts lazily even while files are open. Throws TARGET_BUSY (EBUSY)
 * without `detach` while the mount is in use.
 *
 * @example
 * unmountOverlay(merged); // true
 * unmountOverlay(merged); // false: already unmounted
 */
export function unmountOverlay(target: string, options: { detach?: boolean } = {}): boolean {
  try {
    umount2(target, UMOUNT_NOFOLLOW | (options.detach === true ? MNT_DETACH : 0));
    return true;
  } catch (err) {
    if (isSysError(err, 'EINVAL', 'ENOENT')) return false;
    if (isSysError(err, 'EBUSY')) {
      throw new ShibafuError('TARGET_BUSY', `Cannot unmount "${target}": it is in use (open files or a working directory inside)`, {
        hint: 'Stop the processes using it (fuser -vm PATH shows them), or unmount with detach.',
        cause: err,
      });
    }
    throw fromSystemError(err, `unmount "${target}"`);
  }
}
