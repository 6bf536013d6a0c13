/**
 * What is mounted where, from /proc/self/mountinfo (Documentation/filesystems/proc.rst, 3.5):
 *
 *   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2) (3)   (4)   (5)         (6)      (7)     (8) (9)    (10)      (11)
 *
 * (7) is zero or more optional fields ended by the lone "-" (8).
 */
import { readFileSync, realpathSync, statfsSync } from 'node:fs';
import { ShibafuError } from '../errors.js';

/** One line of /proc/self/mountinfo. */
export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /**
   * `major:minor` of the file system's device (its superblock's): st_dev of files on it, except
   * on btrfs, whose subvolumes each have an st_dev of their own.
   */
  majorMinor: string;
  /** The directory of the file system that is mounted here (not "/" for bind mounts). */
  root: string;
  /** Where it is mounted, relative to the process's root, with \040-style escapes undone. */
  mountPoint: string;
  /** Per-mount options, comma-separated, as the kernel prints them ("rw,relatime"). */
  options: string;
  /** "shared:N", "master:N", "propagate_from:N", "unbindable". */
  optionalFields: string[];
  fsType: string;
  /** The mount source ("shibafu" for shibafu's overlays, "/dev/vda" for a disk), unescaped. */
  source: string;
  /**
   * Per-superblock options as printed. Values inside stay escaped (a comma in a path is \054)
   * so the string can still be split on ",".
   */
  superOptions: string;
}

/**
 * Undoes the kernel's mangle(): space, tab, newline and backslash appear as \040 \011 \012 \134.
 *
 * @example
 * unescapeMountField('/mnt/my\\040disk') === '/mnt/my disk'
 */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function parseLine(line: string): MountInfoEntry {
  const fields = line.split(' ');
  const dash = fields.indexOf('-', 6);
  const [mountId, parentId, majorMinor, root, mountPoint, options] = fields;
  const [fsType, source, superOptions] = dash < 0 ? [] : fields.slice(dash + 1);
  if (
    mountId === undefined || parentId === undefined || majorMinor === undefined || root === undefined ||
    mountPoint === undefined || options === undefined || fsType === undefined || source === undefined ||
    !/^\d+$/.test(mountId) || !/^\d+$/.test(parentId)
  ) {
    throw new ShibafuError('INTERNAL', `Cannot parse mountinfo line "${line}": unexpected format`);
  }
  return {
    mountId: Number(mountId),
    parentId: Number(parentId),
    majorMinor,
    root: unescapeMountField(root),
    mountPoint: unescapeMountField(mountPoint),
    options,
    optionalFields: fields.slice(6, dash),
    fsType,
    source: unescapeMountField(source),
    superOptions: superOptions ?? '',
  };
}

/**
 * Parses the text of a mountinfo file (pure; one entry per non-empty line, in the file's order,
 * which is the order mounts were made: the last entry for a mount point is the visible one).
 *
 * @example
 * parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'))[0].mountPoint === '/'
 */
export function parseMountInfo(text: string): MountInfoEntry[] {
  return text.split('\n').filter((line) => line !== '').map(parseLine);
}

/**
 * The mounts of this process's mount namespace.
 *
 * @example
 * readMountInfo().filter((m) => m.fsType === 'overlay' && m.source === 'shibafu')
 */
export function readMountInfo(): MountInfoEntry[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/**
 * The visible (last) mount at `path`, or undefined if nothing is mounted exactly there.
 * `path` is resolved through symlinks first, as the kernel prints real paths. A path that does
 * not exist has nothing mounted on it.
 *
 * @example
 * mountAt('/var/lib/shibafu/containers/abc/merged')?.fsType === 'overlay'
 */
export function mountAt(path: string, entries: readonly MountInfoEntry[] = readMountInfo()): MountInfoEntry | undefined {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return undefined;
  }
  return entries.findLast((entry) => entry.mountPoint === real);
}

/**
 * True if a file system is mounted exactly at `path` (bind mounts of a directory of the same
 * file system included, which comparing st_dev with the parent would miss).
 *
 * @example
 * isMountPoint('/proc') === true
 */
export function isMountPoint(path: string): boolean {
  return mountAt(path) !== undefined;
}

/** statfs f_type of every FUSE file system (FUSE_SUPER_MAGIC, include/uapi/linux/magic.h). */
const FUSE_SUPER_MAGIC = 0x65735546;

/**
 * Whether the file system at `path` is a FUSE one: one statfs(2), where mountAt reads and parses
 * the whole mount table (~2.6 ms while a 500-layer overlay is mounted: the kernel prints each of
 * its lowerdirs). False for anything else at `path`, so a caller that needs the mount's own entry
 * (its FUSE subtype, its daemon) only reads mountinfo for a FUSE file system. A path that does not
 * exist is on none.
 *
 * @example
 * isOnFuse('/var/lib/shibafu/containers/abc/merged') // true under fuse-overlayfs
 */
export function isOnFuse(path: string): boolean {
  try {
    return statfsSync(path).type === FUSE_SUPER_MAGIC;
  } catch {
    return false;
  }
}
