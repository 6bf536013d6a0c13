/**
 * One change between two file trees, as `container diff` and `layer diff` report it: podman's
 * `A` / `C` / `D` plus the sizes podman never showed (moby/moby#12641). docs/changes.md states
 * the rules; the short form:
 *
 *  - `A` added: the path is new. `newSize` = its bytes.
 *  - `D` deleted: the path is gone. `oldSize` = the bytes it hid: the file's size, or every file
 *    of the deleted directory's subtree (each inode once). Paths under a deleted directory are not
 *    listed one by one.
 *  - `C` changed: type, content, mode, owner, mtime (whole seconds), xattrs, link target or device
 *    differ; a directory is also `C` when an entry directly inside it was added or deleted (its
 *    listing changed), as docker and podman report the parents of additions and deletions.
 *    A directory that is only on the way to a deeper change is not listed.
 */
import type { NodeInfo, NodeKind } from './tree-fs.js';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  /** Absolute in the tree: `/etc/passwd`. */
  readonly path: string;
  readonly kind: ChangeKind;
  /** The type before (null for `A`). */
  readonly oldType: NodeKind | null;
  /** The type after (null for `D`). */
  readonly newType: NodeKind | null;
  /** Bytes before: a file's size, a symlink's target length, a directory's whole subtree for `D` (null for `A`). */
  readonly oldSize: number | null;
  /** Bytes after: a file's size, a symlink's target length, 0 for a directory (null for `D`). */
  readonly newSize: number | null;
}

/** Totals of a change list, for summaries and benchmarks. */
export interface ChangeTotals {
  readonly added: number;
  readonly changed: number;
  readonly deleted: number;
  /** Bytes of added paths. */
  readonly addedBytes: number;
  /** Bytes hidden by deletions. */
  readonly deletedBytes: number;
}

/**
 * Bytes a single node holds: content for a file, the target length for a symlink, else 0.
 *
 * @example
 * nodeBytes(info) // 1234 for a file of 1234 bytes, 0 for a directory
 */
export function nodeBytes(info: NodeInfo): number {
  return info.kind === 'file' || info.kind === 'symlink' ? info.size : 0;
}

/**
 * `etc/passwd` → `/etc/passwd`.
 *
 * @example
 * absPath('etc/passwd') === '/etc/passwd'
 */
export function absPath(rel: string): string {
  return `/${rel}`;
}

/**
 * Sorts in place by path (code-unit order, as podman's output), and returns the list.
 *
 * @example
 * sortChanges([{ path: '/b', ... }, { path: '/a', ... }]) // /a first
 */
export function sortChanges<T extends Change>(changes: T[]): T[] {
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Counts and byte totals of a change list.
 *
 * @example
 * changeTotals(changes).deletedBytes
 */
export function changeTotals(changes: readonly Change[]): ChangeTotals {
  let added = 0;
  let changed = 0;
  let deleted = 0;
  let addedBytes = 0;
  let deletedBytes = 0;
  for (const c of changes) {
    if (c.kind === 'A') { added++; addedBytes += c.newSize ?? 0; }
    else if (c.kind === 'C') changed++;
    else { deleted++; deletedBytes += c.oldSize ?? 0; }
  }
  return { added, changed, deleted, addedBytes, deletedBytes };
}
