/**
 * Finds the container's command the way runc will (Go's exec.LookPath, run inside the container
 * after pivot_root), but from the host, before anything starts: a missing command is then a clean
 * 127 with shibafu's own message rather than a runtime error to decode. Symlinks are followed
 * inside the root file system, never out of it (an absolute link target is relative to the root).
 */
import * as fs from 'node:fs';
import { posix } from 'node:path';
import { errnoCode } from '../errors.js';

export type LookupResult =
  | { readonly kind: 'found'; readonly path: string }
  | { readonly kind: 'not-found' }
  /** A file that exists but is not executable (or a directory): 126, as podman reports it. */
  | { readonly kind: 'not-executable'; readonly path: string }
  /** Somewhere a host lookup cannot see (a volume, /proc, /dev): the runtime decides. */
  | { readonly kind: 'unknown' };

export interface LookupOptions {
  /** The container's root file system on the host (the merged overlay). */
  readonly root: string;
  /** `args[0]`. */
  readonly command: string;
  /** The container's PATH (from its environment). */
  readonly pathEnv: string;
  /** The container's working directory (absolute, inside the container). */
  readonly cwd: string;
  /** Container paths mounted from elsewhere (volumes, /proc, /dev, /sys). */
  readonly mountPoints: readonly string[];
}

/** Symlinks followed per lookup before giving up (Linux's own limit is 40). */
const MAX_LINKS = 40;

/**
 * Looks the command up as exec.LookPath does: a name with a slash is taken as a path (relative to
 * the working directory); a bare name is searched in PATH, where a match that is not executable is
 * skipped (so it ends as not found, like runc's "executable file not found in $PATH").
 *
 * @example
 * lookupCommand({ root: merged, command: 'python3', pathEnv: '/usr/bin:/bin', cwd: '/', mountPoints: ['/proc'] })
 * // { kind: 'found', path: '/usr/bin/python3.11' }
 */
export function lookupCommand(options: LookupOptions): LookupResult {
  const { command } = options;
  if (command === '') return { kind: 'not-found' };
  if (command.includes('/')) return checkFile(options, posix.resolve(options.cwd, command));
  for (const dir of options.pathEnv.split(':')) {
    const result = checkFile(options, posix.resolve(options.cwd, dir === '' ? '.' : dir, command));
    if (result.kind === 'found' || result.kind === 'unknown') return result;
  }
  return { kind: 'not-found' };
}

function checkFile(options: LookupOptions, containerPath: string): LookupResult {
  const resolved = resolveInRoot(options.root, containerPath, options.mountPoints);
  if (resolved === 'unknown') return { kind: 'unknown' };
  if (resolved === null) return { kind: 'not-found' };
  let st: fs.Stats;
  try {
    st = fs.statSync(posix.join(options.root, resolved));
  } catch {
    return { kind: 'not-found' };
  }
  if (st.isDirectory() || (st.mode & 0o111) === 0) return { kind: 'not-executable', path: resolved };
  return { kind: 'found', path: resolved };
}

/**
 * The container path `path` resolves to, following symlinks inside `root`; null when a component
 * is missing, 'unknown' when the walk enters a mount point.
 *
 * @example
 * resolveInRoot('/merged', '/bin/sh', []) // '/bin/busybox'
 */
export function resolveInRoot(root: string, path: string, mountPoints: readonly string[]): string | null | 'unknown' {
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  let current = '/';
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      current = posix.dirname(current);
      continue;
    }
    const next = posix.join(current, part);
    if (mountPoints.some((m) => next === m || next.startsWith(`${m}/`))) return 'unknown';
    let st: fs.Stats;
    try {
      st = fs.lstatSync(posix.join(root, next));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      return 'unknown';
    }
    if (!st.isSymbolicLink()) {
      current = next;
      continue;
    }
    if (++links > MAX_LINKS) return null;
    const target = fs.readlinkSync(posix.join(root, next));
    pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
    if (target.startsWith('/')) current = '/';
  }
  return current;
}
