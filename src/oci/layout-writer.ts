/**
 * Where `image save` writes: a directory (an OCI layout), or a tar file (an oci-archive or a
 * docker-archive). Either way the output appears only once it is whole: a directory is written
 * under a temporary name and renamed, a tar is written to a temporary file and renamed, so an
 * interrupted save leaves nothing that looks like an image.
 */
import * as fs from 'node:fs';
import { dirname, basename, join, posix } from 'node:path';
import { ShibafuError, fromSystemError } from '../errors.js';
import { randomBytes } from '../sys/random.js';
import { BLOCK_SIZE, encodeHeader, paddingFor } from '../tar/tar-header.js';

export interface LayoutSink {
  /** Adds a file of exactly `size` bytes; the bytes come as one buffer or as chunks. */
  file(name: string, size: number, data: Buffer | AsyncIterable<Buffer>): Promise<void>;
  /** Makes the output visible at its path. */
  commit(): void;
  /** Removes what was written. */
  abort(): void;
}

function tempBeside(target: string): string {
  return join(dirname(target), `.${basename(target)}.partial-${randomBytes(6).toString('hex')}`);
}

function refuseExisting(target: string): void {
  if (fs.existsSync(target)) {
    throw new ShibafuError('USAGE', `Cannot save to ${target}: it exists`, { hint: 'Give a path that does not exist yet, or remove it first.' });
  }
}

async function writeAll(fd: number, data: Buffer | AsyncIterable<Buffer>, size: number, name: string): Promise<void> {
  let written = 0;
  const put = (b: Buffer): void => {
    for (let done = 0; done < b.length;) done += fs.writeSync(fd, b, done, b.length - done);
    written += b.length;
  };
  if (Buffer.isBuffer(data)) put(data);
  else for await (const chunk of data) put(chunk);
  if (written !== size) throw new ShibafuError('INTERNAL', `Cannot save "${name}": ${written} bytes written, ${size} expected`);
}

/**
 * A directory at `target` (which must not exist).
 *
 * @example
 * const sink = dirSink('/tmp/busybox-oci'); await sink.file('oci-layout', n, bytes); sink.commit();
 */
export function dirSink(target: string): LayoutSink {
  refuseExisting(target);
  const temp = tempBeside(target);
  try {
    fs.mkdirSync(temp, { mode: 0o755 });
  } catch (err) {
    throw fromSystemError(err, `create ${target}`);
  }
  return {
    async file(name, size, data) {
      const path = join(temp, posix.normalize(`/${name}`));
      fs.mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
      try {
        await writeAll(fd, data, size, name);
      } finally {
        fs.closeSync(fd);
      }
    },
    commit() {
      refuseExisting(target);
      fs.renameSync(temp, target);
    },
    abort() {
      fs.rmSync(temp, { recursive: true, force: true });
    },
  };
}

/**
 * A tar archive at `target` (which must not exist), its members in the order they are added,
 * every header the same but for name and size (root, 0644, mtime 0): the same images give the
 * same bytes.
 *
 * @example
 * const sink = tarSink('/tmp/busybox.tar'); await sink.file('index.json', n, bytes); sink.commit();
 */
export function tarSink(target: string): LayoutSink {
  refuseExisting(target);
  const temp = tempBeside(target);
  let fd: number;
  try {
    fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  } catch (err) {
    throw fromSystemError(err, `create ${target}`);
  }
  const dirs = new Set<string>();
  const header = (name: string, typeflag: string, size: number): Buffer => {
    if (Buffer.byteLength(name) > 100) throw new ShibafuError('INTERNAL', `Cannot save "${name}": a member name longer than 100 bytes`);
    return encodeHeader({ name, typeflag, mode: typeflag === '5' ? 0o755 : 0o644, size, mtime: 0 });
  };
  return {
    async file(name, size, data) {
      // Parent directories first, as archivers write them (some readers need them).
      const parts = name.split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const dir = `${parts.slice(0, i).join('/')}/`;
        if (!dirs.has(dir)) {
          dirs.add(dir);
          await writeAll(fd, header(dir, '5', 0), BLOCK_SIZE, dir);
        }
      }
      await writeAll(fd, header(name, '0', size), BLOCK_SIZE, name);
      await writeAll(fd, data, size, name);
      const pad = paddingFor(size);
      if (pad > 0) await writeAll(fd, Buffer.alloc(pad), pad, name);
    },
    commit() {
      fs.writeSync(fd, Buffer.alloc(BLOCK_SIZE * 2));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = -1;
      refuseExisting(target);
      fs.renameSync(temp, target);
    },
    abort() {
      if (fd >= 0) fs.closeSync(fd);
      fd = -1;
      fs.rmSync(temp, { force: true });
    },
  };
}
