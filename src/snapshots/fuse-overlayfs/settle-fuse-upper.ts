/**
 * Brings an upper written through fuse-overlayfs to overlay's kernel format, so that a committed
 * snapshot of this driver is the same changeset the overlay driver would hold. fuse-overlayfs 1.10
 * (main.c) leaves, besides the format both share:
 * - `.wh..wh..opq`, an empty file, in every directory it makes opaque, even when it could set
 *   `trusted.overlay.opaque` (set_fd_opaque falls through to create the file); the kernel would
 *   show that file, and an OCI export would carry it twice;
 * - `.wh.NAME` files as whiteouts where mknod is refused (not as root, but handled all the same);
 * - other `.wh.*` entries it hides from its own readdir (seen here: a 0/0 device `.wh..opq`);
 * - `user.fuseoverlayfs.*` xattrs (the origin of a copied-up file, for its inode numbers), its
 *   bookkeeping as `trusted.overlay.origin` is the kernel's, but in a namespace an export keeps.
 * A name starting with `.wh.` is never content: OCI reserves the prefix and the importer converts
 * it. Every step is idempotent (the seal of a commit may be repeated after a crash).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { mknod } from '../../sys/mknod.js';
import { lstatx } from '../../sys/statx.js';
import { lutimens, timespecOf } from '../../sys/utimens.js';
import { isSysError } from '../../sys/sys-error.js';
import { lgetxattr, llistxattr, lremovexattr, lsetxattr } from '../../sys/xattr.js';

const OPAQUE_MARKER = '.wh..wh..opq';
const WHITEOUT_PREFIX = '.wh.';
const PRIVATE_XATTR_PREFIX = 'user.fuseoverlayfs.';

/**
 * Settles the upper `dir` in place (see the file's comment).
 *
 * @example
 * settleFuseUpper('/var/lib/shibafu/snapshots/7');
 */
export function settleFuseUpper(dir: string): void {
  dropPrivateXattrs(dir);
  // Removing a marker is not a change the container made: the directory keeps the times it had
  // (what the container saw, and what a commit of a running container copies).
  const times = lstatx(dir);
  let settled = false;
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, ent.name);
    if (ent.name.startsWith(WHITEOUT_PREFIX)) {
      settleMarker(dir, ent);
      settled = true;
      continue;
    }
    if (ent.isDirectory()) settleFuseUpper(path);
    else dropPrivateXattrs(path);
  }
  if (settled && times !== null) lutimens(dir, times.atime, timespecOf(times.mtimeNs));
}

function settleMarker(dir: string, ent: fs.Dirent): void {
  const path = join(dir, ent.name);
  if (ent.name === OPAQUE_MARKER) {
    if (lgetxattr(dir, 'trusted.overlay.opaque')?.toString() !== 'y') lsetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
  } else if (ent.isFile()) {
    // `.wh.NAME` file: fuse-overlayfs's whiteout where mknod failed; the kernel's is a 0/0 device.
    const name = ent.name.slice(WHITEOUT_PREFIX.length);
    if (name !== '' && !fs.existsSync(join(dir, name)) && !isLink(join(dir, name))) mknod(join(dir, name), 'char', 0, 0, 0);
  }
  fs.rmSync(path, { force: true, recursive: true });
}

function isLink(path: string): boolean {
  try {
    return fs.lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function dropPrivateXattrs(path: string): void {
  for (const name of llistxattr(path)) {
    if (!name.startsWith(PRIVATE_XATTR_PREFIX)) continue;
    try {
      lremovexattr(path, name);
    } catch (err) {
      if (!isSysError(err, 'ENODATA')) throw err;
    }
  }
}
