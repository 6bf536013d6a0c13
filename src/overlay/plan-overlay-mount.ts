/**
 * Overlay mounts as data (containerd's snapshotters return mounts and never mount): what to mount,
 * in the kernel's order, checked against the kernel's rules before any syscall. Pure.
 */
import { posix } from 'node:path';
import { ShibafuError } from '../errors.js';

/** fs/overlayfs/params.h: OVL_MAX_STACK. The 501st `lowerdir+` fails ("too many lower directories"). */
export const OVERLAY_MAX_STACK = 500;

/**
 * Pinned on every writable mount, whatever the kernel's defaults: an upper dir must stay an OCI
 * changeset. A directory renamed with redirect_dir=on is a `trusted.overlay.redirect` xattr, and a
 * chmod with metacopy=on a metadata-only copy-up; neither can be exported as a layer tar (with
 * both off, the kernel copies a renamed directory and copies up whole files, as a tar needs).
 */
export const WRITABLE_OPTIONS: readonly (readonly [string, string])[] = [['redirect_dir', 'off'], ['metacopy', 'off']];

/** PATH_MAX including the NUL: the longest path the kernel resolves. */
const PATH_MAX = 4096;

/**
 * Characters overlay's option syntax gives a meaning: "," separates mount options, ":" separates
 * lowerdirs, "\" escapes either; a newline would forge a line in /proc/self/mountinfo readers that
 * do not unescape. Forbidden in every path the plan names, whichever mount API applies it.
 */
const UNSAFE_CHARS = /[,:\\\n\0]/;

/** What to mount; `lowers` bottom first, as users name a stack. */
export interface OverlayMountRequest {
  /** Lower layer dirs, bottom (the base image) first. Absolute paths. */
  lowers: readonly string[];
  /** The writable layer; needs `work`, an empty dir on the same file system. */
  upper?: string;
  work?: string;
  /** The mount point. */
  target: string;
  options?: { volatile?: boolean; readonly?: boolean };
  /**
   * An empty directory to put under a lone read-only lower. The kernel refuses an overlay of one
   * lower without an upper ("at least 2 lowerdir are needed while upperdir nonexistent", EINVAL,
   * measured on 6.18), so a one-layer read-only stack needs this second, empty, bottom layer.
   */
  emptyDir?: string;
}

/** A planned overlay mount, ready for a Mounter. */
export interface OverlayMountPlan {
  readonly fsType: 'overlay';
  /** Shown as the mount source in /proc/self/mountinfo: how shibafu finds its own mounts. */
  readonly source: 'shibafu';
  /**
   * Lower dirs in the kernel's order: TOP first. It is the order of `lowerdir=top:...:bottom`
   * and of repeated `fsconfig("lowerdir+")` calls, whose first call is the top layer
   * (checked on Linux 6.18 by test/overlay-mount.test.ts).
   */
  readonly lowers: readonly string[];
  readonly upper: string | undefined;
  readonly work: string | undefined;
  readonly target: string;
  readonly flags: { readonly volatile: boolean; readonly readonly: boolean };
}

/** A "." or ".." path component. */
const DOT_PART = /(^|\/)\.\.?(\/|$)/;

/**
 * What a path is in the request ("lower layer 3", "upper dir"), for error messages only: lowers
 * are named by their index, so a 500-layer plan builds no strings unless it refuses one.
 */
type Role = string | number;

function roleText(role: Role): string {
  return typeof role === 'number' ? `lower layer ${role + 1}` : role;
}

function checkPath(path: string, role: Role): string {
  if (!path.startsWith('/')) {
    throw new ShibafuError('PATH_UNSAFE', `Cannot mount overlay: ${roleText(role)} "${path}" is not an absolute path`, {
      hint: 'Overlay paths are resolved when the mount is made; shibafu passes absolute paths only.',
    });
  }
  if (UNSAFE_CHARS.test(path)) {
    throw new ShibafuError(
      'PATH_UNSAFE',
      `Cannot mount overlay: ${roleText(role)} "${JSON.stringify(path).slice(1, -1)}" contains "," ":" "\\" or a newline`,
      { hint: 'Those characters are separators in overlay mount options; move the store to a path without them.' },
    );
  }
  // In an absolute path a "." or ".." component follows a "/": the regex only runs where one can be.
  if (path.includes('/.') && DOT_PART.test(path)) {
    throw new ShibafuError('PATH_UNSAFE', `Cannot mount overlay: ${roleText(role)} "${path}" contains "." or ".." components`);
  }
  // A UTF-16 unit is at most 3 UTF-8 bytes: short paths (all of a store's) skip the encoding.
  if (path.length * 3 >= PATH_MAX && Buffer.byteLength(path) >= PATH_MAX) {
    throw new ShibafuError('PATH_UNSAFE', `Cannot mount overlay: ${roleText(role)} path is ${Buffer.byteLength(path)} bytes, longer than PATH_MAX (${PATH_MAX - 1})`);
  }
  // "/a//b/" and "/a/b" are one directory: normalize so duplicates are caught below. With "." and
  // ".." refused, only repeated and trailing slashes can differ, and a store's paths have none.
  if (!path.includes('//') && (path.length === 1 || !path.endsWith('/'))) return path;
  const normal = posix.normalize(path);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/**
 * The kernel refuses layers that are the same directory or inside one another (ELOOP, "overlapping
 * layers"; only dmesg says why). Catch the lexical cases here, where the error can name them.
 * Sorted with a "/" appended, a directory comes right before the first path inside it (everything
 * sorting between `/a/` and `/a/b/` starts with `/a/`), so neighbours are the only pairs to
 * compare: O(n log n), where walking each path's parents cost ~0.4 ms for 500 layers. The keys
 * are sorted as plain strings (the engine's own sort, in UTF-16 code units as `<` compares them),
 * and the roles are looked up only on a refusal.
 */
function checkDisjoint(paths: readonly string[], roles: readonly Role[]): void {
  const keys = paths.map((path) => (path === '/' ? '/' : `${path}/`));
  const sorted = [...keys].sort();
  for (let i = 1; i < sorted.length; i++) {
    const outerKey = sorted[i - 1]!;
    const innerKey = sorted[i]!;
    if (innerKey !== outerKey && !innerKey.startsWith(outerKey)) continue;
    // Named first reads best as the outer one: the first index with that key.
    const outer = keys.indexOf(outerKey);
    const inner = innerKey === outerKey ? keys.indexOf(innerKey, outer + 1) : keys.indexOf(innerKey);
    const [o, n] = [roleText(roles[outer]!), roleText(roles[inner]!)];
    if (innerKey === outerKey) {
      throw new ShibafuError('PATH_CONFLICT', `Cannot mount overlay: ${n} and ${o} are the same directory "${paths[inner]}"`, {
        hint: 'Name each layer once in a stack; a layer\'s ancestors are included automatically.',
      });
    }
    throw new ShibafuError('PATH_CONFLICT', `Cannot mount overlay: ${n} "${paths[inner]}" is inside ${o} "${paths[outer]}"`, {
      hint: 'Overlay layers must be separate directory trees.',
    });
  }
}

function tooDeep(depth: number): ShibafuError {
  return new ShibafuError(
    'STACK_TOO_DEEP',
    `Cannot mount a stack of ${depth} layers: the kernel mounts at most ${OVERLAY_MAX_STACK} lower layers (OVL_MAX_STACK)`,
    {
      hint:
        `Flatten the stack: mount its bottom layers (at most ${OVERLAY_MAX_STACK}) as a container, commit that ` +
        'container into one new layer (its merged view becomes a single diff), then stack the remaining layers ' +
        'on that layer. Deep chains of small layers are worth squashing anyway: a lookup may walk every layer.',
      details: { depth, limit: OVERLAY_MAX_STACK },
    },
  );
}

/**
 * Plans an overlay mount: validates the request against the kernel's rules and returns the lowers
 * in the kernel's order (top first). Throws before any syscall:
 * STACK_TOO_DEEP (more than 500 lowers), PATH_UNSAFE (relative paths, "," ":" "\" newline, "." or
 * ".." parts), PATH_CONFLICT (a directory named twice or inside another layer), USAGE (no lowers,
 * upper without work, volatile without upper, one read-only lower without `emptyDir`).
 *
 * @example
 * const plan = planOverlayMount({ lowers: [baseDiff, appDiff], target: merged, emptyDir });
 * plan.lowers // [appDiff, baseDiff]
 */
export function planOverlayMount(request: OverlayMountRequest): OverlayMountPlan {
  const { upper, work, options = {} } = request;
  if (request.lowers.length > OVERLAY_MAX_STACK) throw tooDeep(request.lowers.length);
  if (request.lowers.length === 0) {
    throw new ShibafuError('USAGE', 'Cannot mount overlay: the stack has no layers', {
      hint: 'Name at least one layer to mount.',
    });
  }
  if ((upper === undefined) !== (work === undefined)) {
    throw new ShibafuError('USAGE', 'Cannot mount overlay: an upper dir needs a work dir and a work dir an upper dir');
  }
  if (options.volatile === true && upper === undefined) {
    throw new ShibafuError('USAGE', 'Cannot mount overlay: "volatile" only applies to a writable mount (one with an upper dir)');
  }
  const paths = request.lowers.map((dir, i) => checkPath(dir, i));
  const roles: Role[] = paths.map((_, i) => i);
  const lowers = [...paths].reverse();
  if (lowers.length === 1 && upper === undefined) {
    if (request.emptyDir === undefined) {
      throw new ShibafuError('USAGE', 'Cannot mount one layer read-only: the kernel needs 2 lower layers when there is no upper dir', {
        hint: 'Pass an empty directory as emptyDir; the plan stacks the layer on top of it.',
      });
    }
    const empty = checkPath(request.emptyDir, 'empty dir');
    lowers.push(empty);
    paths.push(empty);
    roles.push('empty dir');
  }
  const plan: OverlayMountPlan = {
    fsType: 'overlay',
    source: 'shibafu',
    lowers,
    upper: upper === undefined ? undefined : checkPath(upper, 'upper dir'),
    work: work === undefined ? undefined : checkPath(work, 'work dir'),
    target: checkPath(request.target, 'mount point'),
    flags: { volatile: options.volatile === true, readonly: options.readonly === true },
  };
  if (plan.upper !== undefined && plan.work !== undefined) {
    paths.push(plan.upper, plan.work);
    roles.push('upper dir', 'work dir');
  }
  checkDisjoint(paths, roles);
  return plan;
}
