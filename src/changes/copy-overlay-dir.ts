/**
 * Copies a directory in overlay's on-disk format (a container's upper dir, a layer's diff dir)
 * into a staged layer dir, keeping that format
 * (whiteouts stay 0/0 devices, opaque directories keep `trusted.overlay.opaque=y`) and dropping
 * overlay's private bookkeeping (`trusted.overlay.origin`, `impure`, `uuid`, ...), which describes
 * the upper's relation to one mount and means nothing in a layer.
 *
 * The upper may belong to a running container: entries that vanish between readdir and copy are
 * skipped and counted. What a process writes during the copy may be caught half-way, which is why
 * podman pauses a container while it commits (docs/changes.md).
 */
import * as fs from 'node:fs';
import { errnoCode } from '../errors.js';
import {
  finishDirs, newWriteStats, NORMALIZED_WHITEOUT, writeDir, writeNode, writeWhiteout, type PendingDir, type WriteStats, type WriterPorts,
} from './node-writer.js';
import { isOpaqueValue, isOverlayPrivateXattr, isWhiteout, opaqueXattrIn, refuseUnreadableOverlay, upperMark } from '../format/overlay-format.js';
import { publicXattrs, type NodeInfo, type TreeFs } from './tree-fs.js';

export interface CopyOverlayOptions {
  /**
   * `normalize`: whiteouts are written root-owned with mtime 0, as diff layers write them. A
   * whiteout carries no content, but the packer writes its mtime into the tar, so a commit that
   * kept the time a container deleted a file would never reproduce. `keep` (default): as found,
   * which a copy of an existing layer needs to keep its diffId.
   */
  readonly whiteouts?: 'keep' | 'normalize';
  readonly signal?: AbortSignal;
}

export interface CopyOverlayStats extends WriteStats {
  /** Entries that disappeared while being copied (a running container deleted them). */
  vanished: number;
}

interface Copy {
  /** The directory being copied (for messages). */
  readonly src: string;
  readonly fs: TreeFs;
  readonly ports: WriterPorts;
  readonly stats: CopyOverlayStats;
  /** "dev:ino" → first copied path, so hard links inside the upper stay hard links. */
  readonly links: Map<string, string>;
  readonly dirs: PendingDir[];
  readonly normalize: boolean;
  readonly signal: AbortSignal | undefined;
}

/**
 * Copies the contents of `src` into the existing empty directory `dst`.
 *
 * @example
 * const stats = copyOverlayDir(treeFs, ports, container.upper, `${stage}/layer/diff`);
 */
export function copyOverlayDir(fs: TreeFs, ports: WriterPorts, src: string, dst: string, options: CopyOverlayOptions = {}): CopyOverlayStats {
  const c: Copy = {
    src, fs, ports, stats: { ...newWriteStats(), vanished: 0 }, links: new Map(), dirs: [],
    normalize: options.whiteouts === 'normalize', signal: options.signal,
  };
  copyEntries(c, src, dst, '');
  finishDirs(c.ports, c.dirs);
  return c.stats;
}

function copyEntries(c: Copy, src: string, dst: string, rel: string): void {
  c.signal?.throwIfAborted();
  for (const name of c.fs.readdir(src)) {
    const from = `${src}/${name}`;
    const to = `${dst}/${name}`;
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const info = c.fs.lstat(from);
    if (info === null) {
      c.stats.vanished++;
      continue;
    }
    const mark = upperMark(name, info.kind === 'file');
    if (mark !== null) {
      // fuse-overlayfs's marks (format/overlay-format.ts): its opaque marker is no entry (the
      // xattr, copied with the dir, says it); its whiteout file becomes the kernel's whiteout.
      if (mark.kind === 'whiteout' && c.fs.lstat(`${src}/${mark.name}`) === null) {
        writeWhiteout(c.ports, `${dst}/${mark.name}`, c.normalize ? NORMALIZED_WHITEOUT : info, c.stats);
      }
      continue;
    }
    try {
      copyEntry(c, from, to, childRel, info);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode((err as { cause?: unknown }).cause) !== 'ENOENT') throw err;
      // Deleted between lstat and copy; drop whatever part of it was made.
      fs.rmSync(to, { recursive: true, force: true });
      c.stats.vanished++;
    }
  }
}

function copyEntry(c: Copy, from: string, to: string, rel: string, info: NodeInfo): void {
  if (isWhiteout(info)) {
    writeWhiteout(c.ports, to, c.normalize ? NORMALIZED_WHITEOUT : info, c.stats);
    return;
  }
  const names = c.fs.xattrNames(from);
  // A metacopy file holds no data of its own: copying it would store an empty file.
  refuseUnreadableOverlay(names, `copy "${c.src}"`, rel);
  const xattrs = names.some((n) => !isOverlayPrivateXattr(n)) ? publicXattrs(c.fs, from) : [];
  if (info.kind === 'dir') {
    writeDir(to, c.stats);
    c.dirs.push({ path: to, info, xattrs, opaque: isOpaqueListed(c.fs, from, names) });
    copyEntries(c, from, to, rel);
    return;
  }
  if (info.kind === 'file' && info.nlink > 1) {
    const key = `${info.dev}:${info.ino}`;
    const first = c.links.get(key);
    if (first !== undefined) {
      fs.linkSync(first, to);
      c.stats.links++;
      return;
    }
    c.links.set(key, to);
  }
  writeNode(c.ports, to, { info, path: from, xattrs }, c.stats);
}

/** Opaque in either namespace (a copied upper may come from a rootless mount); read only when listed. */
function isOpaqueListed(fs: TreeFs, path: string, names: readonly string[]): boolean {
  const name = opaqueXattrIn(names);
  return name !== null && isOpaqueValue(fs.xattr(path, name));
}
