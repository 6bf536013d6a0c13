/**
 * What this kernel's overlay can do, asked once per process by trying it: a file-system context
 * is opened and configured but never created, so the probe mounts nothing.
 */
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { fsconfigFd, fsconfigString, fsopen } from '../sys/mount-api.js';
import { isSysError } from '../sys/sys-error.js';
import { OVERLAY_MAX_STACK } from './plan-overlay-mount.js';

/** The answers of probeOverlay. */
export interface OverlayProbe {
  /** The kernel knows the overlay file system (listed in /proc/filesystems or fsopen-able). */
  overlay: boolean;
  /** fsopen("overlay") works: the new mount API (Linux 5.2+) and the right to use it. */
  newMountApi: boolean;
  /** fsconfig accepts one "lowerdir+" per layer (Linux 6.8+); without it, mount(2) is the way. */
  lowerdirPlus: boolean;
  /** "lowerdir+" also takes a directory fd (FSCONFIG_SET_FD, Linux 6.13+). */
  lowerdirFd: boolean;
  /** The most lower layers one mount takes (OVL_MAX_STACK). */
  maxStack: number;
  /** Why something is missing, in words for `shibafu diagnose`; undefined when all is there. */
  reason: string | undefined;
}

let cached: OverlayProbe | undefined;

function listedInProcFilesystems(): boolean {
  try {
    return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

/** Tries one fsconfig call on a fresh overlay context; false when the kernel refuses it. */
function accepts(configure: (fsfd: number) => void): boolean {
  const fsfd = fsopen('overlay');
  try {
    configure(fsfd);
    return true;
  } catch (err) {
    if (isSysError(err, 'EINVAL')) return false; // "Unknown parameter" / "Bad value for"
    throw err;
  } finally {
    closeSync(fsfd);
  }
}

function probe(dir: string): OverlayProbe {
  const listed = listedInProcFilesystems();
  const base = { overlay: listed, newMountApi: false, lowerdirPlus: false, lowerdirFd: false, maxStack: OVERLAY_MAX_STACK };
  try {
    closeSync(fsopen('overlay')); // may also load the overlay module, as mount(2) would
  } catch (err) {
    if (isSysError(err, 'ENOSYS')) return { ...base, reason: 'the kernel has no new mount API (fsopen, Linux 5.2+)' };
    if (isSysError(err, 'ENODEV')) return { ...base, overlay: false, reason: 'the kernel has no overlay file system (modprobe overlay)' };
    if (isSysError(err, 'EPERM')) return { ...base, reason: 'mounting needs CAP_SYS_ADMIN (run as root)' };
    throw err;
  }
  const lowerdirPlus = accepts((fsfd) => fsconfigString(fsfd, 'lowerdir+', dir));
  if (!lowerdirPlus) {
    return { ...base, overlay: true, newMountApi: true, reason: 'overlay does not take "lowerdir+" (Linux 6.8+): mount(2) limits the stack to one page of options' };
  }
  const dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const lowerdirFd = accepts((fsfd) => fsconfigFd(fsfd, 'lowerdir+', dirFd));
    return { ...base, overlay: true, newMountApi: true, lowerdirPlus, lowerdirFd, reason: undefined };
  } finally {
    closeSync(dirFd);
  }
}

/**
 * Probes the kernel's overlay support once per process (later calls return the cached answer
 * unless `refresh`). `dir` is an existing directory the probe names as a lower layer (default
 * "/"); nothing is mounted. Throws only on unexpected errors (a SysError).
 *
 * @example
 * const { lowerdirPlus } = probeOverlay();
 * const api = lowerdirPlus ? 'new' : 'legacy';
 */
export function probeOverlay(options: { dir?: string; refresh?: boolean } = {}): OverlayProbe {
  if (cached === undefined || options.refresh === true) cached = probe(options.dir ?? '/');
  return cached;
}
