/**
 * The cheapest full copy of a file the file system offers, as pnpm's store picks its importer:
 * reflink (shares extents, O(metadata)), else copy_file_range (in-kernel, no user-space buffer),
 * else read/write. The choice is probed once per destination file system (device) and cached.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from './random.js';
import { copyFileRange } from './copy-file-range.js';
import { ficlone } from './ficlone.js';
import { isSysError } from './sys-error.js';

/** How copyFile copied. */
export type CopyMethod = 'reflink' | 'copy_file_range' | 'copy';

const ORDER: readonly CopyMethod[] = ['reflink', 'copy_file_range', 'copy'];
/** Errnos meaning "this method does not work here": try the next one, do not fail the copy. */
const UNSUPPORTED = ['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ETXTBSY'];
const BUFFER_SIZE = 1 << 20;

const methodByDevice = new Map<number, CopyMethod>();

function copyPlain(srcFd: number, destFd: number): void {
  // Restart from 0 whatever a failed method left behind.
  ftruncateSync(destFd, 0);
  const buf = Buffer.allocUnsafe(BUFFER_SIZE);
  let pos = 0;
  for (;;) {
    const n = readSync(srcFd, buf, 0, buf.length, pos);
    if (n === 0) return;
    let written = 0;
    while (written < n) written += writeSync(destFd, buf, written, n - written, pos + written);
    pos += n;
  }
}

function copyWith(method: CopyMethod, srcFd: number, destFd: number): void {
  if (method === 'reflink') ficlone(destFd, srcFd);
  else if (method === 'copy_file_range') copyFileRange(srcFd, destFd, fstatSync(srcFd).size);
  else copyPlain(srcFd, destFd);
}

/** Tries `first` and the costlier methods after it; returns the one that worked. */
function copyFrom(first: CopyMethod, srcFd: number, destFd: number): CopyMethod {
  for (const method of ORDER.slice(ORDER.indexOf(first))) {
    try {
      copyWith(method, srcFd, destFd);
      return method;
    } catch (err) {
      // A method the probe chose may still fail for one pair of files (source on another file
      // system: EXDEV since Linux 5.19); fall through to the next.
      if (method === 'copy' || !isSysError(err, ...UNSUPPORTED)) throw err;
    }
  }
  throw new Error('unreachable: plain copy either returns or throws');
}

/**
 * Which copy method works for files in `dir`, probed once per file system by copying a small
 * scratch file there (created and removed in `dir`, so `dir` must be writable).
 *
 * @example
 * probeCopyMethod('/var/lib/shibafu/tmp') // 'copy_file_range' on ext4, 'reflink' on btrfs/xfs
 */
export function probeCopyMethod(dir: string): CopyMethod {
  const dev = statSync(dir).dev;
  const cached = methodByDevice.get(dev);
  if (cached !== undefined) return cached;
  const base = join(dir, `.shibafu-copy-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  const flags = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL;
  const srcFd = openSync(`${base}.src`, flags, 0o600);
  let destFd: number | undefined;
  try {
    writeSync(srcFd, Buffer.alloc(8192, 0x5a), 0, 8192, 0);
    destFd = openSync(`${base}.dst`, flags, 0o600);
    const method = copyFrom('reflink', srcFd, destFd);
    methodByDevice.set(dev, method);
    return method;
  } finally {
    closeSync(srcFd);
    unlinkSync(`${base}.src`);
    if (destFd !== undefined) {
      closeSync(destFd);
      unlinkSync(`${base}.dst`);
    }
  }
}

/**
 * Copies the contents of `src` to a new file `dst` (which must not exist: EEXIST) with exactly
 * permission bits `mode` (umask does not apply), by the best method for `dst`'s file system.
 * `src` is opened with O_NOFOLLOW: a symlink there fails with ELOOP (links are copied as links by
 * the caller, never followed out of a layer). Owner, times and xattrs are the caller's business.
 * On failure `dst` is removed. Returns the method used.
 *
 * @example
 * const how = copyFile(lowerFile, upperFile, 0o644); // 'reflink' on btrfs
 */
export function copyFile(src: string, dst: string, mode: number): CopyMethod {
  const srcFd = openSync(src, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const destFd = openSync(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    let copied = false;
    try {
      const probed = methodByDevice.get(fstatSync(destFd).dev) ?? probeCopyMethod(dirname(dst));
      const method = copyFrom(probed, srcFd, destFd);
      // After the data: a write by a process without CAP_FSETID clears set-user-ID and
      // set-group-ID bits (file_remove_privs), and until now only the owner could read the file.
      fchmodSync(destFd, mode & 0o7777);
      copied = true;
      return method;
    } finally {
      closeSync(destFd);
      if (!copied) unlinkSync(dst);
    }
  } finally {
    closeSync(srcFd);
  }
}
