/**
 * Durability points: the store fsyncs a staged tree, then its parent directory after the rename
 * that publishes it, before the database row that makes it visible commits.
 */
import { closeSync, constants, fsyncSync, openSync } from 'node:fs';
import { check, libc, libcAsync } from './libc.js';

/**
 * Flushes the whole file system holding `fd` (syncfs(2)): one call instead of an fsync per file
 * after an import wrote thousands of them.
 *
 * @example
 * syncfs(layerDirFd);
 */
export function syncfs(fd: number): void {
  check(libc('syncfs')(fd), { syscall: 'syncfs', path: `fd ${fd}` });
}

/**
 * fsyncs a directory so the names created, renamed or removed in it survive a crash.
 * Throws Node's own system errors (ENOENT, ENOTDIR).
 *
 * @example
 * renameat2(staged, final, RENAME_NOREPLACE); fsyncDir(dirname(final));
 */
export function fsyncDir(path: string): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Starts syncfs(2) on a worker thread and resolves when it returns, whatever it returns: it only
 * gets writeback going early. Its result is not a durability point: `fd` must be a descriptor of
 * its own (not the one a later `syncfs` reports on), since a syncfs that sees a writeback error
 * consumes it for its file description and the final, synchronous syncfs would then miss it.
 *
 * @example
 * await syncfsInBackground(extraFd); syncfs(stageFd); // the second one is the durability point
 */
export async function syncfsInBackground(fd: number): Promise<void> {
  await libcAsync('syncfs')(fd);
}
