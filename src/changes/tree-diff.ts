/**
 * The differences between two merged trees, walked in parallel (both directories' sorted listings
 * merged name by name): what `layer diff A B` prints and what `layer diff-create` turns into a
 * layer. The same rules as the upper-dir walk (change.ts, node-compare.ts), plus hard links: a
 * regular file whose set of hard-linked names differs between the trees is `C`, since a layer
 * that must reproduce B has to rebuild that link group.
 */
import { absPath, nodeBytes, sortChanges, type Change } from './change.js';
import { nodesDiffer, type CompareOptions, type Located } from './node-compare.js';
import type { NodeInfo, TreeFs } from './tree-fs.js';
import { childOf, compareNames, subtreeBytes, type TreeView } from './tree-view.js';

export interface TreeDiff {
  /** Sorted by path. */
  readonly changes: Change[];
  /**
   * Directories present in both trees of which no old entry remains (all deleted, maybe others
   * added): an opaque directory rebuilds them without one whiteout per old entry.
   */
  readonly replacedDirs: ReadonlySet<string>;
  /** B's hard-link groups: paths (relative, sorted) of regular files that share an inode in B. */
  readonly linkGroups: readonly (readonly string[])[];
}

export interface TreeDiffOptions extends CompareOptions {
  readonly signal?: AbortSignal;
}

interface Walk {
  readonly fs: TreeFs;
  readonly a: TreeView;
  readonly b: TreeView;
  readonly options: TreeDiffOptions;
  readonly out: Map<string, Change>;
  readonly replaced: Set<string>;
  /** Inode key in A / in B → paths, for regular files with more than one link on either side. */
  readonly linksA: Map<string, string[]>;
  readonly linksB: Map<string, string[]>;
  /** Paths present as regular files in both trees with a link on either side. */
  readonly linked: string[];
}

/**
 * Compares the merged trees `a` (old) and `b` (new).
 *
 * @example
 * const { changes } = diffTrees(treeFs, dirView(treeFs, rootA), dirView(treeFs, rootB));
 */
export function diffTrees(fs: TreeFs, a: TreeView, b: TreeView, options: TreeDiffOptions = {}): TreeDiff {
  const w: Walk = {
    fs, a, b, options, out: new Map(), replaced: new Set(), linksA: new Map(), linksB: new Map(), linked: [],
  };
  walkBoth(w, '');
  flagLinkChanges(w);
  const groups = [...w.linksB.values()].filter((g) => g.length > 1).map((g) => [...g].sort(compareNames));
  return { changes: sortChanges([...w.out.values()]), replacedDirs: w.replaced, linkGroups: groups };
}

/** Walks directory `rel` of both trees; returns true when its listing changed. */
function walkBoth(w: Walk, rel: string): boolean {
  w.options.signal?.throwIfAborted();
  const namesA = w.a.list(rel);
  const namesB = w.b.list(rel);
  let i = 0;
  let j = 0;
  let listingChanged = false;
  let keptFromA = 0;
  while (i < namesA.length || j < namesB.length) {
    const na = namesA[i];
    const nb = namesB[j];
    const order = na === undefined ? 1 : nb === undefined ? -1 : compareNames(na, nb);
    if (order < 0) {
      deleted(w, childOf(rel, na as string));
      listingChanged = true;
      i++;
    } else if (order > 0) {
      added(w, childOf(rel, nb as string));
      listingChanged = true;
      j++;
    } else {
      keptFromA++;
      listingChanged = both(w, childOf(rel, na as string)) || listingChanged;
      i++;
      j++;
    }
  }
  if (rel !== '' && namesA.length > 0 && keptFromA === 0) w.replaced.add(rel);
  return listingChanged;
}

function deleted(w: Walk, rel: string): void {
  const old = w.a.lookup(rel);
  if (old === null) return;
  const oldSize = old.info.kind === 'dir' ? subtreeBytes(w.a, rel, w.options.signal) : nodeBytes(old.info);
  w.out.set(rel, { path: absPath(rel), kind: 'D', oldType: old.info.kind, newType: null, oldSize, newSize: null });
}

/** An entry only B has, and (for a directory) everything below it. */
function added(w: Walk, rel: string): void {
  const node = w.b.lookup(rel);
  if (node === null) return;
  w.out.set(rel, { path: absPath(rel), kind: 'A', oldType: null, newType: node.info.kind, oldSize: null, newSize: nodeBytes(node.info) });
  noteLink(w.linksB, rel, node.info);
  if (node.info.kind === 'dir') for (const name of w.b.list(rel)) added(w, childOf(rel, name));
}

/** A name both trees list; true only when it vanished from one of them meanwhile (then it is A or D). */
function both(w: Walk, rel: string): boolean {
  const x = w.a.lookup(rel);
  const y = w.b.lookup(rel);
  if (x === null || y === null) {
    if (x !== null) deleted(w, rel);
    if (y !== null) added(w, rel);
    return x !== null || y !== null;
  }
  const differs = nodesDiffer(w.fs, x, y, w.options);
  if (x.info.kind === 'dir' && y.info.kind === 'dir') {
    const listingChanged = walkBoth(w, rel);
    if (differs || listingChanged) changed(w, rel, x, y, 0);
    return false;
  }
  if (x.info.kind === 'file' && y.info.kind === 'file' && (x.info.nlink > 1 || y.info.nlink > 1)) {
    noteLink(w.linksA, rel, x.info);
    noteLink(w.linksB, rel, y.info);
    w.linked.push(rel);
  } else {
    noteLink(w.linksB, rel, y.info);
  }
  if (!differs) return false;
  changed(w, rel, x, y, x.info.kind === 'dir' ? subtreeBytes(w.a, rel, w.options.signal) : nodeBytes(x.info));
  if (y.info.kind === 'dir') for (const name of w.b.list(rel)) added(w, childOf(rel, name));
  return false;
}

function changed(w: Walk, rel: string, x: Located, y: Located, oldSize: number): void {
  w.out.set(rel, {
    path: absPath(rel), kind: 'C', oldType: x.info.kind, newType: y.info.kind, oldSize, newSize: nodeBytes(y.info),
  });
}

function noteLink(links: Map<string, string[]>, rel: string, info: NodeInfo): void {
  if (info.kind !== 'file' || info.nlink < 2) return;
  const key = `${info.dev}:${info.ino}`;
  const group = links.get(key);
  if (group === undefined) links.set(key, [rel]);
  else group.push(rel);
}

/**
 * A file present in both trees whose link group differs (compared over the paths present in
 * both) is `C`. Paths only one tree has are covered by their own `A`/`D`, and a layer that copies
 * one member of a B group copies the whole group (diff-plan.ts).
 */
function flagLinkChanges(w: Walk): void {
  const inBoth = new Set(w.linked);
  const groupOf = (links: Map<string, string[]>): Map<string, string> => {
    const out = new Map<string, string>();
    for (const paths of links.values()) {
      const key = paths.filter((p) => inBoth.has(p)).sort(compareNames).join('\0');
      for (const p of paths) out.set(p, key);
    }
    return out;
  };
  const inA = groupOf(w.linksA);
  const inB = groupOf(w.linksB);
  for (const rel of w.linked) {
    if (w.out.has(rel) || (inA.get(rel) ?? rel) === (inB.get(rel) ?? rel)) continue;
    const x = w.a.lookup(rel);
    const y = w.b.lookup(rel);
    if (x !== null && y !== null) changed(w, rel, x, y, nodeBytes(x.info));
  }
}
