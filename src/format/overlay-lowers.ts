/**
 * What a stack of overlay-format layer directories shows at a path, read from the directories
 * without mounting them, by the kernel's lookup rules (fs/overlayfs/namei.c, ovl_lookup), top
 * layer first:
 *  - a whiteout (0/0 character device, or an empty file with the `overlay.whiteout` xattr) hides
 *    the name in every layer below it;
 *  - a directory merges with the directories below it, unless it is opaque;
 *  - anything else (file, symlink, device) shows alone: nothing below it counts.
 *
 * An import asks this of the layers under the one it writes, once per whiteout: a whiteout of a
 * path they do not show hides nothing (layer-applier.ts).
 */
import * as fs from 'node:fs';
import { errnoCode, fromSystemError } from '../errors.js';
import { OVERLAY_XATTR_PREFIX, isOpaque, isWhiteout } from './overlay-format.js';

/** The merged view of the layers under a new one. */
export interface LowerView {
  /** Whether the stack shows a node (of any type) at `parts`; the root is always there. */
  has(parts: readonly string[]): boolean;
}

/** The one call beyond lstat: reading the opaque and whiteout xattrs. */
export interface LowerViewPorts {
  lgetxattr(path: string, name: string): Buffer | null;
}

/**
 * The view of `lowers` (layer directories, bottom first, as stacks are listed); null for an
 * empty stack, under which nothing shows.
 *
 * @example
 * overlayLowerView([base, app], ports)?.has(['etc', 'motd']) // true when base or app shows etc/motd
 */
export function overlayLowerView(lowers: readonly string[], ports: LowerViewPorts): LowerView | null {
  if (lowers.length === 0) return null;
  // Per directory key: the layers' directories that merge there, top first. Whiteouts of one
  // archive share few directories, so each is resolved once.
  const dirs = new Map<string, readonly string[]>([['', [...lowers].reverse()]]);
  const dirsOf = (parts: readonly string[]): readonly string[] => {
    const key = parts.join('/');
    const known = dirs.get(key);
    if (known !== undefined) return known;
    const merged: string[] = [];
    for (const parent of dirsOf(parts.slice(0, -1))) {
      const path = `${parent}/${parts.at(-1)}`;
      const st = lstatOrNull(path);
      if (st === null) continue;
      if (!st.isDirectory()) break;
      merged.push(path);
      if (isOpaque((name) => ports.lgetxattr(path, name))) break;
    }
    dirs.set(key, merged);
    return merged;
  };
  return {
    has(parts) {
      if (parts.length === 0) return true;
      for (const dir of dirsOf(parts.slice(0, -1))) {
        const path = `${dir}/${parts.at(-1)}`;
        const st = lstatOrNull(path);
        if (st === null) continue;
        return !isWhiteoutNode(path, st, ports);
      }
      return false;
    },
  };
}

function isWhiteoutNode(path: string, st: fs.Stats, ports: LowerViewPorts): boolean {
  if (st.isCharacterDevice()) return isWhiteout({ kind: 'char', rdev: st.rdev });
  return st.isFile() && st.size === 0
    && (ports.lgetxattr(path, `${OVERLAY_XATTR_PREFIX.trusted}whiteout`) !== null || ports.lgetxattr(path, `${OVERLAY_XATTR_PREFIX.user}whiteout`) !== null);
}

function lstatOrNull(path: string): fs.Stats | null {
  try {
    return fs.lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw fromSystemError(err, `read the layer below at "${path}"`);
  }
}
