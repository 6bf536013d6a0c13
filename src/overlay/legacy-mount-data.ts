/**
 * The option string for the legacy mount(2) path. Pure.
 *
 * mount(2) copies its data argument as one page and the kernel writes a NUL over the page's last
 * byte (path_mount, fs/namespace.c): a longer string is cut off without an error. A cut lowerdir
 * list may name a shorter stack, or a path prefix that happens to exist: so the length is checked
 * here, always. Docker's overlay2 fits 128 lowers in a page with 26-character `l/` links; with
 * `cwd` set to the links dir and names of 6 characters or fewer, 500 lowers take at most 3.5 KB.
 */
import { ShibafuError } from '../errors.js';
import { WRITABLE_OPTIONS, type OverlayMountPlan } from './plan-overlay-mount.js';

/** One page, NUL included (PAGE_SIZE on x86_64; larger pages only raise the real limit). */
export const LEGACY_MOUNT_DATA_MAX = 4096;

const UNSAFE_NAME = /[,:\\\n\0]/;

/**
 * Short names for the lower dirs, so that 500 of them fit in one page. The legacy mount runs with
 * its working directory set to `cwd` while the kernel resolves the names, and restores it after.
 */
export interface ShortLinks {
  /** The directory the names are relative to (the store's `links/` dir). */
  cwd: string;
  /** Lower dir (as in the plan) → its short name relative to `cwd` (a symlink to the dir). Dirs
   *  without an entry are passed by their full path. */
  links: ReadonlyMap<string, string>;
}

/**
 * The mount(2) data for `plan`: "lowerdir=top:...:bottom[,upperdir=U,workdir=W][,volatile]".
 * Read-only is not an option here but the MS_RDONLY flag. Throws STACK_TOO_DEEP when the string
 * does not fit in one page, PATH_UNSAFE for a short name with separator characters.
 *
 * @example
 * legacyMountData(plan, { cwd: layout.links, links: new Map([[plan.lowers[0], 'a1']]) })
 * // 'lowerdir=a1:/var/lib/shibafu/layers/<hex>/diff'
 */
export function legacyMountData(plan: OverlayMountPlan, shortLinks?: ShortLinks): string {
  const lowers = plan.lowers.map((dir) => {
    const name = shortLinks?.links.get(dir) ?? dir;
    if (name === '' || UNSAFE_NAME.test(name)) {
      throw new ShibafuError('PATH_UNSAFE', `Cannot mount overlay: short link name "${name}" for "${dir}" is empty or has "," ":" "\\" or a newline`);
    }
    return name;
  });
  const parts = [`lowerdir=${lowers.join(':')}`];
  if (plan.upper !== undefined && plan.work !== undefined) {
    parts.push(`upperdir=${plan.upper}`, `workdir=${plan.work}`, ...WRITABLE_OPTIONS.map(([k, v]) => `${k}=${v}`));
  }
  if (plan.flags.volatile) parts.push('volatile');
  const data = parts.join(',');
  const bytes = Buffer.byteLength(data) + 1;
  if (bytes > LEGACY_MOUNT_DATA_MAX) {
    throw new ShibafuError(
      'STACK_TOO_DEEP',
      `Cannot mount a stack of ${plan.lowers.length} layers with mount(2): its options take ${bytes} bytes, ` +
        `more than the one page (${LEGACY_MOUNT_DATA_MAX} bytes with the final NUL) the kernel reads`,
      {
        hint:
          'Use the new mount API (Linux 6.8+ takes one lowerdir+ per layer, no page limit), or mount through ' +
          'short links (the store\'s links/ dir) so each layer costs a few bytes.',
        details: { bytes, limit: LEGACY_MOUNT_DATA_MAX, depth: plan.lowers.length },
      },
    );
  }
  return data;
}
