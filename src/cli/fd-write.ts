/**
 * Writing to a descriptor with write(2) itself, for text the CLI prints (the process's fd 1, or a
 * client's descriptors in the service). A stdout that some other program made non-blocking
 * (EAGAIN) is waited on, a millisecond at a time; a reader that went away (EPIPE) is reported,
 * not thrown: the caller ends the command as a tool killed by SIGPIPE would (status 141).
 */
import * as fs from 'node:fs';

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `bytes` to `fd`; false when the reader has gone away.
 *
 * @example
 * if (!writeToFd(1, Buffer.from(text))) onBrokenPipe();
 */
export function writeToFd(fd: number, bytes: Uint8Array): boolean {
  for (let off = 0; off < bytes.length;) {
    try {
      off += fs.writeSync(fd, bytes, off, bytes.length - off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      if (code !== 'EPIPE') throw err;
      return false;
    }
  }
  return true;
}
