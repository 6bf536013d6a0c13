/**
 * Running one synchronous call in another working directory: the legacy overlay mount resolves
 * relative lowerdir names (the store's short `links/` links) against the caller's cwd, which is how
 * 500 lowers fit in mount(2)'s one page of options.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { check, cString, libc } from './libc.js';

/**
 * Calls `fn` with the process's working directory set to `dir`, and puts the old one back
 * afterwards, even when `fn` throws. The old directory is held open (and returned to with
 * fchdir), so this works even if it was renamed or removed meanwhile, and Node's cached
 * process.cwd() stays right afterwards. Inside `fn`, process.cwd() and path.resolve still say the
 * old directory (Node caches it): only relative names handed straight to the kernel (a syscall's
 * path argument) resolve against `dir`. `fn` must be synchronous: no other JS may run while the
 * cwd is borrowed. The cwd belongs to the whole process, so do not use this while worker threads
 * resolve relative paths.
 *
 * @example
 * withCwd(layout.links, () => mount('shibafu', target, 'overlay', 0, 'lowerdir=a1:a2'));
 */
export function withCwd<T>(dir: string, fn: () => T): T {
  const previous = openSync('.', constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    check(libc('chdir')(cString(dir, 'chdir')), { syscall: 'chdir', path: dir });
    try {
      return fn();
    } finally {
      check(libc('fchdir')(previous), { syscall: 'fchdir', path: 'the previous working directory' });
    }
  } finally {
    closeSync(previous);
  }
}
