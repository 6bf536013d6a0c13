/**
 * The "dir" on-disk format, as snapshot drivers (btrfs, zfs) need it: a layer's directory is a
 * FULL tree, its parent's tree snapshotted and then the layer's changes applied with real
 * deletions. No whiteout or opaque mark is ever left on disk. The rules, from an OCI layer
 * (image-spec layer.md) to the tree:
 *
 *  - `DIR/.wh.NAME` deletes NAME, recursively, if it came from the parent; a node this layer wrote
 *    stays (a whiteout only hides lower layers), and a directory this layer wrote or walked
 *    through loses the parent's entries below it (as overlay makes it opaque);
 *  - `DIR/.wh..wh..opq` deletes every entry of DIR that came from the parent, recursively, and
 *    keeps what this layer wrote there, whatever the order of the entries in the archive;
 *  - an entry at a path the parent holds: directory over directory keeps the directory and takes
 *    the entry's metadata (owner, mode, xattrs: exactly the entry's, mtime); a non-directory over
 *    anything, or a directory over a non-directory, removes the old node first;
 *  - a missing or non-directory ancestor of an entry (not written by this layer) becomes a new
 *    directory 0755 root:root, as overlay's merged view shows the layer's implicit directory;
 *  - a hardlink may only point at a regular file this same layer wrote;
 *  - a symlink in the tree, from the parent or from the archive, is never followed: every path is
 *    resolved component by component with lstat, and a symlink where a directory is needed is
 *    replaced (the parent's) or refused (the archive's).
 *
 * This module holds the decisions, pure; src/tar/dir-layer-applier.ts carries them out.
 */

/** A node found at a path: its type, and whether this layer wrote it (or walked through it). */
export interface FoundNode {
  readonly isDir: boolean;
  readonly ours: boolean;
}

/** What to do at the path of an entry about to be written. */
export type EntryStep =
  /** Nothing there: create it. */
  | 'create'
  /** A directory over a directory: keep it, set the entry's metadata. */
  | 'update-dir'
  /** The parent's non-directory: unlink it, then create. */
  | 'unlink'
  /** The parent's directory under a non-directory entry: remove its tree, then create. */
  | 'remove-tree'
  /** This layer already wrote that path (a tar must not hold a path twice). */
  | 'duplicate';

/**
 * The step for an entry (directory or not) at a path holding `found`.
 *
 * @example
 * entryStep({ isDir: true, ours: false }, false) // 'remove-tree': a file replaces the parent's dir
 */
export function entryStep(found: FoundNode | null, entryIsDir: boolean): EntryStep {
  if (found === null) return 'create';
  if (found.isDir && entryIsDir) return 'update-dir';
  if (found.ours) return 'duplicate';
  return found.isDir ? 'remove-tree' : 'unlink';
}

/** What to do with an ancestor of an entry. */
export type AncestorStep = 'enter' | 'create' | 'replace' | 'conflict';

/**
 * The step for a path component that must be a directory. A non-directory of the parent (a
 * symlink included: it is never followed) is replaced; one of this layer's is a conflict.
 *
 * @example
 * ancestorStep({ isDir: false, ours: false }) // 'replace'
 */
export function ancestorStep(found: FoundNode | null): AncestorStep {
  if (found === null) return 'create';
  if (found.isDir) return 'enter';
  return found.ours ? 'conflict' : 'replace';
}

/** What a whiteout `.wh.NAME` does to the node NAME. */
export type WhiteoutStep = 'none' | 'keep' | 'remove-tree' | 'clear-dir';

/**
 * The step for a whiteout of a path holding `found`: the parent's node goes; this layer's file
 * stays; this layer's directory keeps only what this layer put in it (`clear-dir`).
 *
 * @example
 * whiteoutStep({ isDir: true, ours: true }) // 'clear-dir'
 */
export function whiteoutStep(found: FoundNode | null): WhiteoutStep {
  if (found === null) return 'none';
  if (!found.ours) return 'remove-tree';
  return found.isDir ? 'clear-dir' : 'keep';
}

/** The mode of a directory the archive implies without an entry (as the overlay applier makes it). */
export const IMPLICIT_DIR_MODE = 0o755;
