/**
 * Whether one path differs between two trees: the comparison shared by the upper-dir walk and the
 * merged-tree walk, so `container diff` and `layer diff` mean the same thing by `C`.
 */
import { publicXattrs, wholeSeconds, type NodeInfo, type TreeFs } from './tree-fs.js';

/** A node and the real path that holds it (for content, xattrs and link targets). */
export interface Located {
  readonly path: string;
  readonly info: NodeInfo;
}

export interface CompareOptions {
  /**
   * True when both nodes are known to be the very same file (same inode on one file system), so
   * their content is equal without reading it. Absent: content is always compared by reading.
   */
  readonly sameFile?: (a: NodeInfo, b: NodeInfo) => boolean;
}

/**
 * True when `a` and `b` differ in type, mode, owner, mtime (whole seconds), device number,
 * symlink target, size, xattrs (overlay's private ones aside) or content. The cheap checks run
 * first; content is read only when everything else is equal, sizes included: a copied-up file
 * that was opened for writing but not changed is thereby not a change. Two views of one inode
 * (`sameFile`) are equal without any further call. Directories compare by attributes only
 * (their entries are walked).
 *
 * @example
 * nodesDiffer(treeFs, { path: upperPath, info }, { path: lowerPath, info: lowerInfo })
 */
export function nodesDiffer(fs: TreeFs, a: Located, b: Located, options: CompareOptions = {}): boolean {
  const x = a.info;
  const y = b.info;
  if (x.kind !== y.kind) return true;
  // One inode: its attributes, xattrs and content are the same wherever it is seen from.
  if (x.kind !== 'dir' && options.sameFile?.(x, y) === true) return false;
  if (x.mode !== y.mode || x.uid !== y.uid || x.gid !== y.gid) return true;
  if (wholeSeconds(x.mtimeNs) !== wholeSeconds(y.mtimeNs)) return true;
  if ((x.kind === 'char' || x.kind === 'block') && x.rdev !== y.rdev) return true;
  if (x.kind === 'file' && x.size !== y.size) return true;
  if (x.kind === 'symlink' && fs.readlink(a.path) !== fs.readlink(b.path)) return true;
  if (!sameXattrs(fs, a.path, b.path)) return true;
  if (x.kind !== 'file' || x.size === 0) return false;
  return !fs.sameContent(a.path, b.path, x.size);
}

/**
 * Equal sets of xattrs, overlay's private ones (origin, impure, opaque, ...) left out.
 *
 * @example
 * sameXattrs(treeFs, upperPath, lowerPath) // true: only trusted.overlay.origin differs
 */
export function sameXattrs(fs: TreeFs, a: string, b: string): boolean {
  const pa = publicXattrs(fs, a);
  const pb = publicXattrs(fs, b);
  return pa.length === pb.length && pa.every(([name, value], i) => pb[i]?.[0] === name && pb[i]?.[1].equals(value));
}
