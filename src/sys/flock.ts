/**
 * Advisory whole-file locks (flock(2)): two shibafu processes on one root take them on the store's
 * lock file. They belong to the open file description, so closing the fd (or the process dying)
 * releases them: a crashed process never leaves a stale lock behind.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { check, lastErrno, libc } from './libc.js';
import { ERRNO, SysError } from './sys-error.js';

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/**
 * flock(2) on `fd`. Without LOCK_NB, a conflicting lock blocks the whole event loop until it is
 * released: prefer tryLock or waitForLock in the library.
 *
 * @example
 * flock(fd, LOCK_EX | LOCK_NB); // throws SysError EAGAIN if another holder exists
 * flock(fd, LOCK_UN);
 */
export function flock(fd: number, operation: number): void {
  const fn = libc('flock');
  for (;;) {
    if (fn(fd, operation) === 0) return;
    const errno = lastErrno();
    // A signal may interrupt a blocking flock; the lock was not taken, so ask again.
    if (errno !== ERRNO.EINTR) throw new SysError(errno, { syscall: 'flock', path: `fd ${fd}` });
  }
}

/**
 * Takes a shared or exclusive lock without waiting. Returns false if another open file
 * description holds a conflicting lock; throws SysError for anything else (EBADF, ENOLCK).
 *
 * @example
 * if (!tryLock(fd, true)) throw new ShibafuError('STORE_BUSY', 'Cannot open store: another shibafu holds it');
 */
export function tryLock(fd: number, exclusive: boolean): boolean {
  const ret = libc('flock')(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  if (ret === 0) return true;
  const errno = lastErrno();
  if (errno === ERRNO.EAGAIN) return false;
  throw new SysError(errno, { syscall: 'flock', path: `fd ${fd}` });
}

/**
 * Waits for a lock without blocking the event loop: tries, then sleeps `pollMs` (default 20)
 * and tries again until it gets the lock or `signal` aborts (then it rejects with an
 * AbortError). Polling keeps the libuv thread pool free, which a blocking flock in a worker would hold.
 *
 * @example
 * await waitForLock(fd, { exclusive: true, signal: AbortSignal.timeout(5000) });
 */
export async function waitForLock(
  fd: number,
  options: { exclusive: boolean; signal?: AbortSignal; pollMs?: number },
): Promise<void> {
  const pollMs = options.pollMs ?? 20;
  for (;;) {
    options.signal?.throwIfAborted();
    if (tryLock(fd, options.exclusive)) return;
    await sleep(pollMs, undefined, options.signal === undefined ? undefined : { signal: options.signal });
  }
}

/**
 * Releases the lock held through `fd` (closing the fd does the same).
 *
 * @example
 * unlock(fd);
 */
export function unlock(fd: number): void {
  check(libc('flock')(fd, LOCK_UN), { syscall: 'flock', path: `fd ${fd}` });
}
