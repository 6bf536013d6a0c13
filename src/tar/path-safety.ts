/**
 * Pure checks on archive paths. An archive path becomes a list of components relative to the
 * layer root; anything that could name a place outside it is refused before a byte is written.
 */
import { ShibafuError } from '../errors.js';
import { isOverlayPrivateXattr } from '../format/overlay-format.js';

export interface PathLimits {
  /** Components in one path (the kernel's own limit on nesting is far above any real image). */
  readonly maxDepth: number;
}

/**
 * Normalizes a tar path to its components: `./a//b/` → `['a', 'b']`, `.` → `[]` (the layer root).
 * Refuses absolute paths, `..`, NUL bytes and paths deeper than the limit (PATH_UNSAFE /
 * LIMIT_EXCEEDED): GNU tar strips a leading `/` with a warning, but a layer has no business
 * naming one, so shibafu refuses instead of guessing.
 *
 * @example
 * splitArchivePath('./usr/bin/', { maxDepth: 128 }) // ['usr', 'bin']
 */
export function splitArchivePath(path: string, limits: PathLimits): string[] {
  if (path.includes('\0')) {
    throw new ShibafuError('PATH_UNSAFE', `Cannot import entry ${JSON.stringify(path)}: its name contains a NUL byte`);
  }
  if (path.startsWith('/')) {
    throw new ShibafuError('PATH_UNSAFE', `Cannot import entry "${path}": absolute paths are not allowed in a layer`, {
      hint: 'Create the archive with paths relative to the root (tar -C ROOT -cf layer.tar .).',
    });
  }
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      throw new ShibafuError('PATH_UNSAFE', `Cannot import entry "${path}": ".." would leave the layer`);
    }
    parts.push(part);
  }
  if (parts.length > limits.maxDepth) {
    throw new ShibafuError('LIMIT_EXCEEDED', `Cannot import entry "${truncate(path)}": ${parts.length} path components exceed the limit of ${limits.maxDepth}`, {
      hint: 'Raise it with --max-depth if the archive is trusted.',
    });
  }
  return parts;
}

function truncate(s: string): string {
  return s.length > 120 ? `${s.slice(0, 60)}...${s.slice(-50)}` : s;
}

/** The OCI whiteout prefix (image-spec layer.md). */
export const WHITEOUT_PREFIX = '.wh.';
/** The OCI opaque-directory marker. */
export const OPAQUE_MARKER = '.wh..wh..opq';

export type WhiteoutKind =
  | { kind: 'none' }
  | { kind: 'whiteout'; target: string }
  | { kind: 'opaque' }
  /** `.wh..wh.*` other than the opaque marker: aufs bookkeeping (plnk, orph) that Docker once exported. */
  | { kind: 'aufs-meta' };

/**
 * Classifies a base name by the OCI whiteout rules.
 *
 * @example
 * classifyWhiteout('.wh.passwd') // { kind: 'whiteout', target: 'passwd' }
 */
export function classifyWhiteout(base: string): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: 'aufs-meta' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw new ShibafuError('PATH_UNSAFE', `Cannot import whiteout "${base}": it names no file`, {
      hint: 'A whiteout is ".wh.NAME" for an existing NAME in a lower layer.',
    });
  }
  return { kind: 'whiteout', target };
}

/**
 * Extended attributes an archive may not set. `trusted.*` is privileged (overlay keeps whiteouts,
 * opaque dirs, redirects and metacopy there: a forged one would change what the merged view
 * shows), and `user.overlay.*` is the same for rootless (userxattr) mounts.
 */
export function isForbiddenXattr(name: string): boolean {
  return name.startsWith('trusted.') || isOverlayPrivateXattr(name);
}
