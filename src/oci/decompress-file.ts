/**
 * A compressed image archive (`podman save | gzip`) unpacked to a file of its own: an archive is
 * read out of order (blobs as the manifests name them), which a compressed stream cannot do.
 */
import * as fs from 'node:fs';
import { fromSystemError } from '../errors.js';
import { openSource } from '../tar/layer-source.js';

/**
 * Writes the decompressed bytes of `path` (gzip or zstd, told by their magic) to `target`, a new
 * file; LIMIT_EXCEEDED past `maxBytes` (a decompression bomb).
 *
 * @example
 * await decompressFile('/tmp/busybox.tar.gz', '/var/lib/shibafu/tmp/load-1f2e/archive.tar', { maxBytes: 64 << 30 });
 */
export async function decompressFile(path: string, target: string, options: { readonly maxBytes: number; readonly signal?: AbortSignal }): Promise<void> {
  const opened = openSource(path, { maxBytes: options.maxBytes, ...(options.signal !== undefined ? { signal: options.signal } : {}) });
  let fd: number;
  try {
    fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (err) {
    throw fromSystemError(err, `create ${target}`);
  }
  try {
    for await (const chunk of opened.chunks) {
      for (let done = 0; done < chunk.length;) done += fs.writeSync(fd, chunk, done, chunk.length - done);
    }
  } catch (err) {
    throw fromSystemError(err, `decompress ${path}`);
  } finally {
    fs.closeSync(fd);
  }
}
