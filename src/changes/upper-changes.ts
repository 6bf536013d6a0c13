/**
 * GetLayerChanges: what a container changed, from its overlay upper dir alone plus point lookups
 * in the image's layers, so the cost grows with the changes and not with the image.
 *
 * What the upper dir says (overlay's on-disk format, redirect_dir / metacopy / index off):
 *  - a 0/0 character device is a whiteout: the lower path was deleted (`D`, with the bytes it hid);
 *  - an entry that is not in the image was added (`A`), one that is was copied up: it is `C` when
 *    it differs from the image's (node-compare.ts), and nothing when the copy-up changed nothing;
 *  - an opaque directory (`trusted.overlay.opaque=y`) hides the image's entries below it: each
 *    one the upper does not have again is `D`;
 *  - a renamed directory is a copy plus a whiteout without redirect_dir, so it shows as `A` of the
 *    new name (and its entries) plus `D` of the old one; a `trusted.overlay.redirect` xattr
 *    (written by a mount with that feature) is refused. A metacopy file (metacopy=on) lists
 *    right (its size is in its stat); a commit refuses it (copy-overlay-dir.ts).
 */
import { absPath, nodeBytes, sortChanges, type Change } from './change.js';
import { nodesDiffer, type Located } from './node-compare.js';
import { isOpaqueValue, isWhiteout, opaqueXattrIn, unreadableOverlayFeature, unsupportedOverlayFeature, upperMark } from '../format/overlay-format.js';
import type { NodeInfo, TreeFs } from './tree-fs.js';
import { childOf, stackView, subtreeBytes, type TreeView } from './tree-view.js';

export interface UpperChangesOptions {
  readonly signal?: AbortSignal;
}

interface Walk {
  readonly fs: TreeFs;
  readonly upper: string;
  readonly image: TreeView;
  readonly out: Change[];
  readonly signal: AbortSignal | undefined;
}

/**
 * Lists the changes of `upper` over the image whose layer dirs are `lowers` (TOP first, as the
 * kernel orders them), sorted by path.
 *
 * @example
 * upperChanges(treeFs, '/var/lib/shibafu/containers/c1/upper', [appDiff, baseDiff])
 * // [{ path: '/etc', kind: 'C', ... }, { path: '/etc/motd', kind: 'A', newSize: 12, ... }]
 */
export function upperChanges(fs: TreeFs, upper: string, lowers: readonly string[], options: UpperChangesOptions = {}): Change[] {
  const w: Walk = { fs, upper, image: stackView(fs, lowers), out: [], signal: options.signal };
  walkDir(w, '', false);
  return sortChanges(w.out);
}

/**
 * Walks the upper directory `rel`; `hidden` is true when the image's entries below it are not
 * visible any more (it, or a directory above it, is opaque). Returns true when an entry directly
 * inside was added or deleted, which makes the directory itself `C` (its listing changed).
 */
function walkDir(w: Walk, rel: string, hidden: boolean): boolean {
  w.signal?.throwIfAborted();
  const dirPath = rel === '' ? w.upper : `${w.upper}/${rel}`;
  const kept = new Set<string>();
  let listingChanged = false;
  // Any order: the list is sorted once at the end.
  for (const name of w.fs.readdir(dirPath)) {
    const child = childOf(rel, name);
    const path = `${dirPath}/${name}`;
    const info = w.fs.lstat(path);
    // Gone since readdir: a running container deleted it; it is not a change any more.
    if (info === null) continue;
    const mark = upperMark(name, info.kind === 'file');
    if (mark !== null) {
      // fuse-overlayfs's marks: its opaque marker (the xattr says the same) is no entry, and its
      // whiteout file deletes NAME unless NAME is in the upper again.
      if (mark.kind === 'whiteout' && !hidden && w.fs.lstat(`${dirPath}/${mark.name}`) === null) {
        listingChanged = deletion(w, childOf(rel, mark.name)) || listingChanged;
      }
      continue;
    }
    if (isWhiteout(info)) {
      // Below an opaque directory the image is hidden anyway; the listing comparison reports it.
      if (!hidden) listingChanged = deletion(w, child) || listingChanged;
      continue;
    }
    kept.add(name);
    listingChanged = entry(w, child, { path, info }, hidden) || listingChanged;
  }
  if (hidden) {
    // Everything the image had here and the upper does not have again is gone.
    for (const name of w.image.list(rel)) {
      if (!kept.has(name)) listingChanged = deletion(w, childOf(rel, name)) || listingChanged;
    }
  }
  return listingChanged;
}

/** Reports a deletion if the image had the path; true when it did. */
function deletion(w: Walk, rel: string): boolean {
  const old = w.image.lookup(rel);
  if (old === null) return false;
  w.out.push({
    path: absPath(rel), kind: 'D', oldType: old.info.kind, newType: null,
    oldSize: old.info.kind === 'dir' ? subtreeBytes(w.image, rel, w.signal) : nodeBytes(old.info), newSize: null,
  });
  return true;
}

/** Handles one upper entry that is not a whiteout; returns true when it was added. */
function entry(w: Walk, rel: string, node: Located, hidden: boolean): boolean {
  const isDir = node.info.kind === 'dir';
  const old = w.image.lookup(rel);
  // Below a directory the image had as a directory, the image's entries stay visible unless
  // this directory or one above it is opaque.
  const childListingChanged = isDir && walkDir(w, rel, hidden || opaqueDir(w, rel, node.path) || old?.info.kind !== 'dir');
  if (old === null) {
    w.out.push(change(rel, 'A', null, node.info, 0));
    return true;
  }
  const differs = nodesDiffer(w.fs, node, old, { sameFile: sameInode });
  if (differs || (isDir && old.info.kind === 'dir' && childListingChanged)) {
    const oldSize = old.info.kind === 'dir' && !isDir ? subtreeBytes(w.image, rel, w.signal) : nodeBytes(old.info);
    w.out.push(change(rel, 'C', old.info, node.info, oldSize));
  }
  return false;
}

/**
 * Whether an upper directory is opaque; refuses one renamed with redirect_dir. Only directories
 * are asked (one listing each): redirect applies to directories, and a file's metacopy xattr
 * does not change what the diff reports (its size is right; it is C by its new attributes).
 * A commit, which copies file data, refuses metacopy files (copy-overlay-dir.ts).
 */
function opaqueDir(w: Walk, rel: string, path: string): boolean {
  const names = w.fs.xattrNames(path);
  if (unreadableOverlayFeature(names) === 'redirect_dir') throw unsupportedOverlayFeature('list the changes', rel, 'redirect_dir');
  const opaque = opaqueXattrIn(names);
  return opaque !== null && isOpaqueValue(w.fs.xattr(path, opaque));
}

function change(rel: string, kind: 'A' | 'C', old: NodeInfo | null, now: NodeInfo, oldSize: number): Change {
  return {
    path: absPath(rel), kind, oldType: old?.kind ?? null, newType: now.kind,
    oldSize: old === null ? null : oldSize, newSize: nodeBytes(now),
  };
}

/** Upper and lower live on one file system: one (dev, ino) is one file. */
function sameInode(a: NodeInfo, b: NodeInfo): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}
