/**
 * Several changesets in overlay's on-disk format seen as one upper dir: a container's upper over
 * the layers its earlier commits moved out of it (container-commit.ts). `container diff` walks
 * this view with the same code as a plain upper (upper-changes.ts), so it lists every change since
 * the container was created, as `podman diff` does after a commit.
 *
 * Composing changesets is overlay's lookup, except that a whiteout is an entry of the result
 * rather than a hole in it (it still says "deleted from the image"):
 *  - a path is the first changeset's (top first) that has it, within the directories its parent
 *    takes part in;
 *  - a directory takes in the same directory of the changesets below it until one is opaque, or
 *    has a whiteout or a non-directory there; then the composed directory is opaque (it hides the
 *    image's entries), as overlay's own view of the stack would hide them.
 * Paths outside the top changeset pass through, so the image's lookups use the same port.
 */
import { isWhiteout, OPAQUE_VALUE, OPAQUE_XATTR } from '../format/overlay-format.js';
import { isOpaqueDir, type NodeInfo, type TreeFs } from './tree-fs.js';

interface Found {
  /** Index of the changeset that holds the node. */
  readonly at: number;
  readonly path: string;
  readonly info: NodeInfo;
}

interface ComposedDir {
  /** Changesets whose directory at this path takes part, top first. */
  readonly parts: readonly number[];
  readonly opaque: boolean;
}

const OPAQUE_YES = Buffer.from(OPAQUE_VALUE);

/**
 * A TreeFs in which the directory `changesets[0]` shows all of `changesets` (top first) composed.
 *
 * @example
 * upperChanges(composedUpperFs(treeFs, [upper, committedDiff]), upper, imageLowers)
 */
export function composedUpperFs(base: TreeFs, changesets: readonly string[]): TreeFs {
  const top = changesets[0];
  if (top === undefined) return base;
  const at = (i: number, rel: string): string => (rel === '' ? changesets[i] as string : `${changesets[i] as string}/${rel}`);
  const dirs = new Map<string, ComposedDir | null>();

  const relOf = (path: string): string | null => {
    if (path === top) return '';
    return path.startsWith(`${top}/`) ? path.slice(top.length + 1) : null;
  };
  const parentOf = (rel: string): string => {
    const slash = rel.lastIndexOf('/');
    return slash < 0 ? '' : rel.slice(0, slash);
  };

  // The walk asks about one path several times (lstat, xattrs, content): one lookup each.
  const nodes = new Map<string, Found | null>();
  const node = (rel: string): Found | null => {
    const known = nodes.get(rel);
    if (known !== undefined) return known;
    const found = lookup(rel);
    nodes.set(rel, found);
    return found;
  };
  const lookup = (rel: string): Found | null => {
    if (rel === '') {
      const info = base.lstat(top);
      return info === null ? null : { at: 0, path: top, info };
    }
    const parent = dir(parentOf(rel));
    if (parent === null) return null;
    for (const i of parent.parts) {
      const path = at(i, rel);
      const info = base.lstat(path);
      if (info !== null) return { at: i, path, info };
    }
    return null;
  };

  const dir = (rel: string): ComposedDir | null => {
    const known = dirs.get(rel);
    if (known !== undefined) return known;
    const found = node(rel);
    let result: ComposedDir | null = null;
    if (found !== null && found.info.kind === 'dir') {
      const parts = [found.at];
      let opaque = isOpaqueDir(base, found.path);
      // The candidates below: the root has all changesets; any other dir what its parent has.
      const below = rel === '' ? changesets.map((_, i) => i) : (dir(parentOf(rel)) as ComposedDir).parts;
      for (const i of below) {
        if (opaque) break;
        if (i <= found.at) continue;
        const info = base.lstat(at(i, rel));
        if (info === null) continue;
        if (info.kind !== 'dir' || isWhiteout(info)) {
          opaque = true;
          break;
        }
        parts.push(i);
        opaque = isOpaqueDir(base, at(i, rel));
      }
      result = { parts, opaque };
    }
    dirs.set(rel, result);
    return result;
  };

  const real = (path: string): string => {
    const rel = relOf(path);
    if (rel === null) return path;
    return node(rel)?.path ?? path;
  };

  return {
    lstat(path) {
      const rel = relOf(path);
      return rel === null ? base.lstat(path) : node(rel)?.info ?? null;
    },
    readdir(path) {
      const rel = relOf(path);
      if (rel === null) return base.readdir(path);
      const d = dir(rel);
      if (d === null) return [];
      const names = new Set<string>();
      for (const i of d.parts) for (const name of base.readdir(at(i, rel))) names.add(name);
      return [...names];
    },
    readlink: (path) => base.readlink(real(path)),
    xattrNames(path) {
      const rel = relOf(path);
      const names = base.xattrNames(real(path));
      if (rel !== null && dir(rel)?.opaque === true && !names.includes(OPAQUE_XATTR)) names.push(OPAQUE_XATTR);
      return names;
    },
    xattr(path, name) {
      const rel = relOf(path);
      if (rel !== null && name === OPAQUE_XATTR && dir(rel)?.opaque === true) return OPAQUE_YES;
      return base.xattr(real(path), name);
    },
    sameContent: (a, b, size) => base.sameContent(real(a), real(b), size),
  };
}
