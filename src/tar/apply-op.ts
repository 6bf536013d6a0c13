/**
 * Turns one tar entry into a tagged operation before anything touches disk (STYLE.md: plan, then
 * apply). Every check that needs only the entry itself lives here and is unit-tested without root.
 */
import { ShibafuError } from '../errors.js';
import { WHITEOUT_PREFIX, classifyWhiteout, isForbiddenXattr, splitArchivePath, type PathLimits } from './path-safety.js';
import type { SparseMap } from './sparse-map.js';

/** The fields of a parsed tar entry that applying needs (a structural subset of the parser's entry). */
export interface ApplyEntry {
  readonly path: string;
  readonly linkpath: string;
  readonly type: 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: { readonly sec: number; readonly nsec: number };
  readonly devmajor: number;
  readonly devminor: number;
  readonly xattrs: ReadonlyMap<string, Buffer>;
  /** A GNU sparse file's map, checked by the parser against `size`. */
  readonly sparse?: SparseMap | undefined;
}

/** What toApplyOp bounds: path depth, and the size a sparse file may claim. */
export interface EntryLimits extends PathLimits {
  /** The import's expanded-bytes limit (`--max-size`): a sparse file's holes expand too. */
  readonly maxBytes: number;
}

export interface Attrs {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: { readonly sec: number; readonly nsec: number };
  readonly xattrs: ReadonlyArray<readonly [string, Buffer]>;
}

export type ApplyOp =
  | { op: 'dir'; parts: string[]; attrs: Attrs }
  | { op: 'file'; parts: string[]; attrs: Attrs; size: number }
  /** A file written with holes: `map.realSize` bytes, the entry's data placed at the map's segments. */
  | { op: 'sparse'; parts: string[]; attrs: Attrs; map: SparseMap }
  | { op: 'symlink'; parts: string[]; target: string; attrs: Attrs }
  | { op: 'hardlink'; parts: string[]; targetParts: string[] }
  | { op: 'device'; parts: string[]; kind: 'char' | 'block' | 'fifo'; major: number; minor: number; attrs: Attrs }
  | { op: 'whiteout'; parts: string[] }
  | { op: 'opaque'; dirParts: string[] }
  | { op: 'skip'; path: string; reason: string };

/**
 * Classifies an entry. Throws PATH_UNSAFE, LINK_UNSAFE, XATTR_FORBIDDEN, TAR_UNSUPPORTED or
 * LIMIT_EXCEEDED for entries no layer may contain.
 *
 * @example
 * toApplyOp({ path: 'etc/.wh.passwd', type: 'file', ... }, limits) // { op: 'whiteout', parts: ['etc', 'passwd'] }
 */
export function toApplyOp(entry: ApplyEntry, limits: EntryLimits): ApplyOp {
  const parts = splitArchivePath(entry.path, limits);
  // Everything under aufs bookkeeping dirs (`.wh..wh.plnk/`, `.wh..wh.orph/`) is aufs's own
  // state, never layer content; moby skips the whole subtree too.
  if (parts.slice(0, -1).some((p) => p.startsWith(AUFS_META_PREFIX))) {
    return { op: 'skip', path: entry.path, reason: 'aufs metadata' };
  }
  const base = parts.at(-1);
  if (base !== undefined) {
    const wh = classifyWhiteout(base);
    const dirParts = parts.slice(0, -1);
    // A whiteout's own type and content carry no meaning (some producers hardlink them together).
    if (wh.kind === 'opaque') return { op: 'opaque', dirParts };
    if (wh.kind === 'whiteout') return { op: 'whiteout', parts: [...dirParts, wh.target] };
    if (wh.kind === 'aufs-meta') return { op: 'skip', path: entry.path, reason: 'aufs metadata' };
  }
  if (parts.length === 0 && entry.type !== 'dir') {
    throw new ShibafuError('PATH_UNSAFE', `Cannot import entry "${entry.path}": only a directory can stand at the layer root`);
  }
  switch (entry.type) {
    case 'dir':
      return { op: 'dir', parts, attrs: attrsOf(entry) };
    case 'file':
      if (entry.sparse !== undefined) return sparseOp(entry, entry.sparse, parts, limits);
      return { op: 'file', parts, attrs: attrsOf(entry), size: entry.size };
    case 'symlink':
      if (entry.linkpath === '' || entry.linkpath.includes('\0')) {
        throw new ShibafuError('LINK_UNSAFE', `Cannot import symlink "${entry.path}": its target is empty or contains NUL`);
      }
      // The target is stored as text and never followed while importing, so an absolute or
      // escaping target is harmless here: it is resolved only inside the container's root.
      return { op: 'symlink', parts, target: entry.linkpath, attrs: attrsOf(entry) };
    case 'link':
      return { op: 'hardlink', parts, targetParts: hardlinkTarget(entry, limits) };
    case 'char':
      if (entry.devmajor === 0 && entry.devminor === 0) {
        // 0/0 is overlay's own whiteout format: accepting it would let an archive forge a
        // whiteout that bypasses the OCI rules (and export would turn it into `.wh.`).
        throw new ShibafuError('PATH_UNSAFE', `Cannot import "${entry.path}": a character device 0/0 is overlay's whiteout format`, {
          hint: 'An OCI layer deletes a file with an empty ".wh.NAME" entry.',
        });
      }
      return { op: 'device', parts, kind: 'char', major: entry.devmajor, minor: entry.devminor, attrs: attrsOf(entry) };
    case 'block':
      return { op: 'device', parts, kind: 'block', major: entry.devmajor, minor: entry.devminor, attrs: attrsOf(entry) };
    case 'fifo':
      return { op: 'device', parts, kind: 'fifo', major: 0, minor: 0, attrs: attrsOf(entry) };
  }
}

function sparseOp(entry: ApplyEntry, map: SparseMap, parts: string[], limits: EntryLimits): ApplyOp {
  // Holes cost no disk here, but every reader of the layer (a packed export, a copy, a container)
  // sees realSize bytes: a 1 KiB archive must not make a file of terabytes. The same bound as the
  // archive's expanded size.
  if (map.realSize > limits.maxBytes) {
    throw new ShibafuError('LIMIT_EXCEEDED', `Cannot import sparse file "${entry.path}": its size of ${map.realSize} bytes exceeds the limit of ${limits.maxBytes} bytes`, {
      hint: 'Raise the limit with --max-size if the archive is trusted.',
    });
  }
  return { op: 'sparse', parts, attrs: attrsOf(entry), map };
}

/** `.wh..wh.`: the prefix of the opaque marker and of aufs's metadata names. */
const AUFS_META_PREFIX = `${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`;

function hardlinkTarget(entry: ApplyEntry, limits: PathLimits): string[] {
  if (entry.linkpath === '') {
    throw new ShibafuError('LINK_UNSAFE', `Cannot import hardlink "${entry.path}": it names no target`);
  }
  let target: string[];
  try {
    target = splitArchivePath(entry.linkpath, limits);
  } catch (err) {
    throw new ShibafuError('LINK_UNSAFE', `Cannot import hardlink "${entry.path}": its target "${entry.linkpath}" is outside the layer`, { cause: err });
  }
  if (target.length === 0) {
    throw new ShibafuError('LINK_UNSAFE', `Cannot import hardlink "${entry.path}": it points at the layer root`);
  }
  return target;
}

function attrsOf(entry: ApplyEntry): Attrs {
  const xattrs: [string, Buffer][] = [];
  for (const [name, value] of entry.xattrs) {
    if (isForbiddenXattr(name)) {
      throw new ShibafuError('XATTR_FORBIDDEN', `Cannot import "${entry.path}": the archive sets the privileged xattr "${name}"`, {
        hint: 'Overlay metadata (whiteouts, opaque dirs) must be written as OCI ".wh." entries, never as trusted.* xattrs.',
      });
    }
    xattrs.push([name, value]);
  }
  return { mode: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid, mtime: entry.mtime, xattrs };
}
