/**
 * Random bytes for unique names (staging dirs, mount ids, container ids), read from
 * /dev/urandom: node:crypto, with the stream modules it brings, is ~25 of Node's internal modules
 * (~5 ms) that `run` and `layer mount` otherwise never load. The kernel's pool is the source
 * node:crypto's randomBytes draws from anyway.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/**
 * `n` cryptographically random bytes.
 *
 * @example
 * const token = randomBytes(8).toString('hex');
 */
export function randomBytes(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    // A read of /dev/urandom comes up short only when a signal interrupts it.
    for (let got = 0; got < n;) got += readSync(fd, buf, got, n - got, null);
  } finally {
    closeSync(fd);
  }
  return buf;
}
