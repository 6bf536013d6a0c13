/**
 * Makes a stopped container's upper dir, in place, a layer with the diffId a copy of it
 * (copy-overlay-dir.ts) would have, so that the directory itself can become the layer
 * (container-commit.ts moves it instead of copying it). It runs inside the walk that hashes the
 * upper (a PackSettler, tar/tar-packer.ts): one walk, one xattr listing per node.
 *  - whiteouts become root-owned with mtime 0 (the time a file was deleted is no content, and the
 *    packer writes it into the tar: a commit that kept it would never reproduce);
 *  - sockets go (they belong to a process, not to a layer; the copy skips them), their directory
 *    keeping its mtime;
 *  - a redirect_dir or metacopy upper is refused.
 * Overlay's private xattrs (origin, impure, uuid) stay where they are, as containerd's overlay
 * snapshotter leaves them when it commits an active snapshot: the kernel reads them on upper dirs
 * only, never on a lower layer, and every reader of layers here (the packer, the diffs, the
 * copies) skips them. Removing them was one syscall for most nodes of a commit.
 * None of this changes what the container sees through overlay.
 */
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { fromSystemError } from '../errors.js';
import { refuseUnreadableOverlay } from '../format/overlay-format.js';
import type { StatxResult } from '../sys/statx.js';
import type { PackSettler } from '../tar/tar-packer.js';
import { setTimes, newWriteStats, NORMALIZED_WHITEOUT, type WriterPorts } from './node-writer.js';
import type { CopyOverlayStats } from './copy-overlay-dir.js';

/** What the settling needs of the kernel. */
export type SettlePorts = Pick<WriterPorts, 'lutimens'>;

/** A settler and the counts a copy would have reported (no bytes copied: `methods` stay 0). */
export interface UpperSettler extends PackSettler {
  readonly stats: CopyOverlayStats;
}

/**
 * @example
 * const settler = upperSettler(ctx.ports); hashLayerDir(upper, ctx.ports, signal, settler); settler.stats.whiteouts
 */
export function upperSettler(ports: SettlePorts): UpperSettler {
  const stats: CopyOverlayStats = { ...newWriteStats(), vanished: 0 };
  const links = new Set<string>();
  return {
    stats,
    node(_abs, rel, st, names) {
      // A metacopy file holds no data of its own: as a layer it would be an empty file.
      refuseUnreadableOverlay(names, 'commit the upper', rel);
      if (rel === '.') return;
      if (st.kind === 'dir') {
        stats.dirs++;
      } else if (st.kind === 'file' && st.nlink > 1 && links.has(`${st.dev}:${st.ino}`)) {
        stats.links++;
      } else {
        if (st.kind === 'file' && st.nlink > 1) links.add(`${st.dev}:${st.ino}`);
        stats.files++;
        if (st.kind === 'file') stats.bytes += st.size;
      }
    },
    whiteout(abs, st) {
      stats.whiteouts++;
      return settleWhiteout(ports, abs, st);
    },
    socket(abs) {
      const dir = dirname(abs);
      const parent = fs.lstatSync(dir, { bigint: true });
      try {
        fs.unlinkSync(abs);
      } catch (err) {
        throw fromSystemError(err, `remove the socket "${abs}"`);
      }
      // The unlink moved the directory's mtime, which its tar entry (already written) carries.
      setTimes(ports, dir, parent.mtimeNs);
    },
  };
}

function settleWhiteout(ports: SettlePorts, path: string, st: StatxResult): StatxResult {
  const { uid, gid, mtimeNs } = NORMALIZED_WHITEOUT;
  try {
    if (st.uid !== uid || st.gid !== gid) fs.lchownSync(path, uid, gid);
  } catch (err) {
    throw fromSystemError(err, `settle whiteout "${path}"`);
  }
  if (st.mtimeNs !== mtimeNs) setTimes(ports, path, mtimeNs);
  return { ...st, uid, gid, mtimeNs };
}
