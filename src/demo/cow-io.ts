/**
 * The file work the copy-on-write demo times: big sequential writes and reads in 1 MiB chunks, and
 * one-byte appends. Chunked work awaits between chunks so that Ctrl-C (an abort signal, delivered
 * through the event loop) is seen within a chunk, whatever the size.
 */
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ShibafuError } from '../errors.js';
import { syncfs } from '../sys/sync.js';

const CHUNK = 1024 * 1024;

/**
 * Runs `fn` and measures it in milliseconds.
 *
 * @example
 * const { ms } = await timed(() => appendByte(file));
 */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - start };
}

/**
 * Flushes the dirty data of the file systems holding `dirs` (syncfs), so that a timing that follows
 * does not pay for the writeback of the one before it: on this kind of machine a 50 MiB copy took
 * 28 ms on a clean page cache and 306 ms right after other big writes (dirty-page throttling).
 *
 * @example
 * settle([sandboxDir, storeRoot]); const { ms } = await timed(() => appendByte(file));
 */
export function settle(dirs: readonly string[]): void {
  for (const dir of dirs) {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      syncfs(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * Writes `size` bytes of random data to a new file (random so that no file system can compress or
 * dedupe it away), then fsyncs it when `fsync` says so: a timed write must include reaching the disk.
 *
 * @example
 * await writeFileOfSize('/tmp/big.bin', 50 * 1024 * 1024, { signal, fsync: true });
 */
export async function writeFileOfSize(path: string, size: number, options: { signal: AbortSignal; fsync: boolean }): Promise<void> {
  const chunk = randomBytes(Math.min(CHUNK, size));
  const file = await fs.promises.open(path, 'wx', 0o644);
  try {
    for (let written = 0; written < size;) {
      options.signal.throwIfAborted();
      const n = Math.min(chunk.length, size - written);
      const { bytesWritten } = await file.write(chunk, 0, n, written);
      written += bytesWritten;
    }
    if (options.fsync) await file.sync();
  } finally {
    await file.close();
  }
}

/**
 * Reads a whole file and returns the number of bytes read.
 *
 * @example
 * await readWholeFile('/mnt/merged/big.bin', signal) // 52428800
 */
export async function readWholeFile(path: string, signal: AbortSignal): Promise<number> {
  const buf = Buffer.alloc(CHUNK);
  const file = await fs.promises.open(path, 'r');
  try {
    let total = 0;
    for (;;) {
      signal.throwIfAborted();
      const { bytesRead } = await file.read(buf, 0, buf.length, total);
      if (bytesRead === 0) return total;
      total += bytesRead;
    }
  } finally {
    await file.close();
  }
}

/**
 * Appends one byte as `echo -n x >> FILE` does: open for appending (where overlay copies a lower
 * file up), write, close. Synchronous so the timing holds only the system calls.
 *
 * @example
 * appendByte('/mnt/merged/big.bin');
 */
export function appendByte(path: string): void {
  fs.appendFileSync(path, 'x');
}

/**
 * Bytes free to unprivileged use at `path` (statfs f_bavail × f_bsize).
 *
 * @example
 * freeBytes('/tmp') // 85424013312
 */
export function freeBytes(path: string): number {
  const st = fs.statfsSync(path);
  return st.bavail * st.bsize;
}

/**
 * Refuses to start when a file system cannot hold what the demo will write, rather than fill it.
 *
 * @example
 * assertFree([{ path: '/tmp', need: 4 * size }], '50.0 MiB', formatBytes);
 */
export function assertFree(needs: readonly { path: string; need: number }[], sizeText: string, format: (n: number) => string): void {
  for (const { path, need } of needs) {
    const free = freeBytes(path);
    if (free < need) {
      throw new ShibafuError('NO_SPACE', `Cannot run the copy-on-write demo with --size ${sizeText}: it needs about ${format(need)} free in ${path}, and ${format(free)} is free`, {
        hint: 'Use a smaller --size (e.g. --size 10M), or --root on a larger file system.',
        details: { path, need, free },
      });
    }
  }
}
