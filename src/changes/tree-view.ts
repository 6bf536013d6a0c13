/**
 * Read-only views of a merged tree, path by path: a plain directory (a mounted overlay), or a stack
 * of layer directories resolved the way overlayfs resolves them, without mounting. The stack view
 * serves point lookups ("what did the image have at /etc/passwd?"), so listing a container's
 * changes costs lookups for the changed paths only, never a walk of the image.
 */
import { nodeBytes } from './change.js';
import type { Located } from './node-compare.js';
import type { LayerFormat } from '../format/layer-format.js';
import { isWhiteout } from '../format/overlay-format.js';
import { isOpaqueDir, type TreeFs } from './tree-fs.js';

/**
 * A merged tree. Paths are relative to its root, without a leading slash ('' is the root).
 *
 * @example
 * const node = view.lookup('etc/passwd'); // { path: '/.../layers/ab/diff/etc/passwd', info }
 */
export interface TreeView {
  /** The visible node at `rel` and the real path that holds it; null when absent. */
  lookup(rel: string): Located | null;
  /** Visible entry names of the directory `rel`, sorted; [] when it is not a directory. */
  list(rel: string): string[];
}

/**
 * Byte order of the UTF-8 names (the packer's order, tar/tar-packer.ts), without encoding them:
 * UTF-16 code-unit order is code-point order (= UTF-8 byte order) except between a surrogate
 * (U+D800-DFFF, half of a character past U+FFFF) and U+E000-FFFF, which this corrects.
 *
 * @example
 * ['b', 'a'].sort(compareNames) // ['a', 'b']
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const sx = x >= 0xd800 && x <= 0xdfff;
    const sy = y >= 0xd800 && y <= 0xdfff;
    if (sx !== sy && (sx ? y : x) >= 0xe000) return sx ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * `parent/name`, or `name` at the root.
 *
 * @example
 * childOf('', 'etc') === 'etc'; childOf('etc', 'hosts') === 'etc/hosts'
 */
export function childOf(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}

/**
 * A directory tree as it is: a mounted overlay, or an upper dir read as a plain tree.
 *
 * @example
 * const merged = dirView(treeFs, '/proc/self/fd/23');
 */
export function dirView(fs: TreeFs, root: string): TreeView {
  const abs = (rel: string): string => (rel === '' ? root : `${root}/${rel}`);
  return {
    lookup(rel) {
      const path = abs(rel);
      const info = fs.lstat(path);
      return info === null ? null : { path, info };
    },
    list(rel) {
      return fs.readdir(abs(rel)).sort(compareNames);
    },
  };
}

/**
 * The merged tree of a stack of layer directories (`layers` TOP first) in `format`: overlay's
 * merge rules (stackView), or, for the dir format, the top layer alone, which holds the full tree.
 *
 * @example
 * const image = layersView(treeFs, DIR_LAYER_FORMAT, [topSnapshot, parentSnapshot]); // = dirView(topSnapshot)
 */
export function layersView(fs: TreeFs, format: LayerFormat, layers: readonly string[]): TreeView {
  if (format.kind === 'overlay') return stackView(fs, layers);
  const top = layers[0];
  return top === undefined ? { lookup: () => null, list: () => [] } : dirView(fs, top);
}

/**
 * The merged view of layer directories, `layers` TOP first, by overlay's lookup rules: the topmost
 * entry of a name wins; a whiteout (0/0 device) hides the name in the layers below; a directory
 * merges with directories of the same name below it until an opaque one
 * (`trusted.overlay.opaque=y`) or a non-directory stops the merge. Directory contributions are
 * memoized, so lookups of paths that share parents cost one lstat per contributing layer.
 *
 * @example
 * const image = stackView(treeFs, [topDiff, ..., baseDiff]);
 * image.lookup('usr/bin/python3')
 */
export function stackView(fs: TreeFs, layers: readonly string[]): TreeView {
  /** rel → indices of the layers whose directory `rel` takes part in the merged directory. */
  const dirs = new Map<string, number[] | null>();
  const rootLayers: number[] = [];
  for (let i = 0; i < layers.length; i++) {
    rootLayers.push(i);
    if (isOpaqueDir(fs, layers[i] as string)) break;
  }
  dirs.set('', rootLayers);

  const at = (i: number, rel: string): string => (rel === '' ? layers[i] as string : `${layers[i] as string}/${rel}`);

  const parentOf = (rel: string): string => {
    const slash = rel.lastIndexOf('/');
    return slash < 0 ? '' : rel.slice(0, slash);
  };

  const dirLayers = (rel: string): number[] | null => {
    const known = dirs.get(rel);
    if (known !== undefined) return known;
    const parent = dirLayers(parentOf(rel));
    let result: number[] | null = null;
    if (parent !== null) {
      const found: number[] = [];
      for (const i of parent) {
        const info = fs.lstat(at(i, rel));
        if (info === null) continue;
        if (isWhiteout(info) || info.kind !== 'dir') break;
        found.push(i);
        if (isOpaqueDir(fs, at(i, rel))) break;
      }
      result = found.length > 0 ? found : null;
    }
    dirs.set(rel, result);
    return result;
  };

  return {
    lookup(rel) {
      if (rel === '') {
        const info = layers.length > 0 ? fs.lstat(at(0, '')) : null;
        return info === null ? null : { path: at(0, ''), info };
      }
      const parent = dirLayers(parentOf(rel));
      if (parent === null) return null;
      for (const i of parent) {
        const path = at(i, rel);
        const info = fs.lstat(path);
        if (info === null) continue;
        return isWhiteout(info) ? null : { path, info };
      }
      return null;
    },
    list(rel) {
      const contributing = dirLayers(rel);
      if (contributing === null) return [];
      const seen = new Set<string>();
      const visible: string[] = [];
      for (const i of contributing) {
        for (const name of fs.readdir(at(i, rel))) {
          if (seen.has(name)) continue;
          seen.add(name);
          const info = fs.lstat(at(i, childOf(rel, name)));
          if (info !== null && !isWhiteout(info)) visible.push(name);
        }
      }
      return visible.sort(compareNames);
    },
  };
}

/**
 * Bytes held by the node at `rel` of `view`: a file's size, or for a directory the sum over its
 * whole subtree, each inode counted once (hard links share their bytes).
 *
 * @example
 * subtreeBytes(image, 'var/cache/apt') // what deleting it hides
 */
export function subtreeBytes(view: TreeView, rel: string, signal?: AbortSignal): number {
  const top = view.lookup(rel);
  if (top === null) return 0;
  if (top.info.kind !== 'dir') return nodeBytes(top.info);
  const seen = new Set<string>();
  let total = 0;
  const stack = [rel];
  for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
    signal?.throwIfAborted();
    for (const name of view.list(dir)) {
      const child = childOf(dir, name);
      const node = view.lookup(child);
      if (node === null) continue;
      if (node.info.kind === 'dir') {
        stack.push(child);
        continue;
      }
      if (node.info.nlink > 1) {
        const key = `${node.info.dev}:${node.info.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += nodeBytes(node.info);
    }
  }
  return total;
}
