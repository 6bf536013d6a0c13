/**
 * CreateDiffLayer, planned: the operations that build a layer NEW in overlay's on-disk format such
 * that A + NEW shows exactly B's merged tree, from the differences between A and B. Pure: the
 * store's applier (store/diff-layers.ts) carries the plan out.
 *
 *  - deleted path            → whiteout (0/0 device)
 *  - added / changed path    → a full copy of B's node (a directory: its attributes; its entries
 *                              come as their own operations)
 *  - a directory of which no old entry survives → opaque (`trusted.overlay.opaque=y`), and no
 *                              whiteouts for its old entries
 *  - every parent of an operation → a directory with B's attributes (the layer must hold the path)
 *  - a copied file whose inode B shares with other names → those names are copied too, as hard
 *    links of the first: A + NEW must show B's link groups, not one new inode beside old names.
 */
import type { TreeDiff } from './tree-diff.js';
import { compareNames } from './tree-view.js';

export type DiffOp =
  | { readonly op: 'dir'; readonly path: string; readonly opaque: boolean }
  | { readonly op: 'copy'; readonly path: string }
  | { readonly op: 'link'; readonly path: string; readonly target: string }
  | { readonly op: 'whiteout'; readonly path: string };

/**
 * Plans the layer; operations are sorted by path, so a directory comes before its entries and
 * the first name of a link group is copied before the others link to it.
 *
 * @example
 * planDiffLayer(diffTrees(fs, viewA, viewB))
 * // [{ op: 'dir', path: 'etc', opaque: false }, { op: 'copy', path: 'etc/motd' }, { op: 'whiteout', path: 'tmp/x' }]
 */
export function planDiffLayer(diff: TreeDiff): DiffOp[] {
  const ops = new Map<string, 'dir' | 'opaque' | 'copy' | 'whiteout'>();
  for (const c of diff.changes) {
    const rel = c.path.slice(1);
    if (c.kind === 'D') ops.set(rel, 'whiteout');
    else ops.set(rel, c.newType === 'dir' ? (diff.replacedDirs.has(rel) ? 'opaque' : 'dir') : 'copy');
  }
  for (const [rel, op] of ops) {
    // An opaque directory already hides every old entry: their whiteouts would be redundant.
    if (op === 'whiteout' && ops.get(parentOf(rel)) === 'opaque') ops.delete(rel);
  }
  const groupOf = new Map<string, readonly string[]>();
  for (const group of diff.linkGroups) for (const rel of group) groupOf.set(rel, group);
  for (const [rel, op] of [...ops]) {
    if (op !== 'copy') continue;
    for (const member of groupOf.get(rel) ?? []) if (!ops.has(member)) ops.set(member, 'copy');
  }
  for (const rel of [...ops.keys()]) {
    for (let p = parentOf(rel); p !== ''; p = parentOf(p)) {
      if (ops.has(p)) break;
      ops.set(p, 'dir');
    }
  }
  const firstOfGroup = new Map<readonly string[], string>();
  return [...ops.keys()].sort(comparePaths).map((rel): DiffOp => {
    const op = ops.get(rel);
    if (op === 'whiteout') return { op: 'whiteout', path: rel };
    if (op === 'dir' || op === 'opaque') return { op: 'dir', path: rel, opaque: op === 'opaque' };
    const group = groupOf.get(rel);
    if (group === undefined) return { op: 'copy', path: rel };
    const first = firstOfGroup.get(group);
    if (first === undefined) {
      firstOfGroup.set(group, rel);
      return { op: 'copy', path: rel };
    }
    return { op: 'link', path: rel, target: first };
  });
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

/** Component by component, so `a/b` sorts right after `a` whatever names `a-x` or `a.x` exist. */
function comparePaths(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = compareNames(pa[i] as string, pb[i] as string);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}
