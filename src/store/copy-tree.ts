/**
 * CopyToLayer: copies a host file or tree into a layer directory, keeping types, owners, modes,
 * times, xattrs and hardlinks, with the best copy the file system offers (reflink, else
 * copy_file_range, else read/write: chosen by the CopyPort, which probes once).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { ShibafuError, fromSystemError } from '../errors.js';
import { devMajor, devMinor } from '../sys/mknod.js';
import { lstatx, type StatxResult } from '../sys/statx.js';
import { timespecOf } from '../sys/utimens.js';
import { CREATES_ROOT_OWNED } from '../changes/node-writer.js';
import { OPAQUE_XATTRS, OVERLAY_XATTR_PREFIX } from '../format/overlay-format.js';
import type { StorePorts } from './ports.js';

export interface CopyStats {
  files: number;
  dirs: number;
  bytes: number;
  methods: Record<'reflink' | 'copy_file_range' | 'copy', number>;
}

/** A host tree may carry overlay metadata (an upper dir): only the opaque marker keeps its meaning. */
function copyableXattr(name: string): boolean {
  return !name.startsWith(OVERLAY_XATTR_PREFIX.trusted) || name === OPAQUE_XATTRS.trusted;
}

/**
 * Copies `src` (file, symlink, device or directory) to `dst`, which must not exist unless both are
 * directories (then the contents merge, files are replaced).
 *
 * @example
 * copyTree('/srv/app', '/var/lib/shibafu/open/ab12/diff/app', ports)
 */
export function copyTree(src: string, dst: string, ports: StorePorts): CopyStats {
  const stats = newCopyStats();
  const links = new Map<string, string>();
  const dirTimes: [string, StatxResult][] = [];
  copyNode(src, dst, { ports, stats, links, dirTimes });
  for (const [path, st] of dirTimes.reverse()) ports.lutimens(path, st.atime, timespecOf(st.mtimeNs));
  return stats;
}

/**
 * Moves `staged` (a tree copyTree made on the same file system) to `dst` with renames only, so
 * a copy that failed half-way (a full disk, an unreadable file) never reaches `dst`. Merges as
 * copyTree does: directories that exist on both sides merge (their contents move in, then they
 * take the staged directory's owner, mode, xattrs and times), anything else is replaced. Every
 * conflict (a directory against a non-directory) is found before the first rename, so a refused
 * merge changes nothing.
 *
 * @example
 * copyTree('/srv/app', `${stage}/tree`, ports); mergeStagedTree(`${stage}/tree`, `${diff}/app`, ports);
 */
export function mergeStagedTree(staged: string, dst: string, ports: StorePorts): void {
  checkMerge(staged, dst);
  moveIn(staged, dst, ports);
}

function lstatOrUndefined(path: string): StatxResult | undefined {
  try {
    return lstatx(path) ?? undefined;
  } catch (err) {
    throw fromSystemError(err, `read "${path}"`);
  }
}

function checkMerge(staged: string, dst: string): void {
  const existing = lstatOrUndefined(dst);
  if (existing === undefined) return;
  const isDir = lstatOrUndefined(staged)?.kind === 'dir';
  if (isDir && existing.kind !== 'dir') {
    throw new ShibafuError('PATH_CONFLICT', `Cannot copy directory "${staged}": "${dst}" exists and is not a directory`);
  }
  if (!isDir && existing.kind === 'dir') throw new ShibafuError('PATH_CONFLICT', `Cannot copy over "${dst}": it is a directory in the layer`);
  if (isDir) for (const name of fs.readdirSync(staged)) checkMerge(join(staged, name), join(dst, name));
}

function moveIn(staged: string, dst: string, ports: StorePorts): void {
  const existing = lstatOrUndefined(dst);
  if (existing === undefined || existing.kind !== 'dir') {
    // rename(2) replaces a non-directory atomically: the old file is there until the new one is.
    fs.renameSync(staged, dst);
    return;
  }
  for (const name of fs.readdirSync(staged)) moveIn(join(staged, name), join(dst, name), ports);
  const st = lstatOrUndefined(staged);
  if (st === undefined) throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot merge "${staged}": it vanished`);
  finishAttrs(staged, dst, st, ports, false);
  ports.lutimens(dst, st.atime, timespecOf(st.mtimeNs));
}

function newCopyStats(): CopyStats {
  return { files: 0, dirs: 0, bytes: 0, methods: { reflink: 0, copy_file_range: 0, copy: 0 } };
}

interface CopyState {
  ports: StorePorts;
  stats: CopyStats;
  /** dev:ino → first copied path, so hardlinks inside the tree stay hardlinks. */
  links: Map<string, string>;
  dirTimes: [string, StatxResult][];
}

function copyNode(src: string, dst: string, state: CopyState): void {
  // statx (sys/statx.ts), not Node's bigint lstat: a fifth of the cost, once per copied node.
  const st = lstatOrUndefined(src);
  if (st === undefined) throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot read "${src}": no such file or directory`);
  try {
    if (st.kind === 'dir') return copyDir(src, dst, st, state);
    replaceNonDir(dst);
    const mode = st.mode & 0o7777;
    if (st.kind === 'file') copyFileNode(src, dst, st, state);
    else if (st.kind === 'symlink') fs.symlinkSync(fs.readlinkSync(src), dst);
    else if (st.kind === 'char' || st.kind === 'block') state.ports.mknod(dst, st.kind, mode, devMajor(st.rdev), devMinor(st.rdev));
    else if (st.kind === 'fifo') state.ports.mknod(dst, 'fifo', mode, 0, 0);
    else return; // sockets belong to a running process, not to an image
    finishAttrs(src, dst, st, state.ports, true);
  } catch (err) {
    throw fromSystemError(err, `copy "${src}"`);
  }
}

function copyDir(src: string, dst: string, st: StatxResult, state: CopyState): void {
  const existing = lstatOrUndefined(dst);
  if (existing !== undefined && existing.kind !== 'dir') {
    throw new ShibafuError('PATH_CONFLICT', `Cannot copy directory "${src}": "${dst}" exists and is not a directory`);
  }
  if (existing === undefined) fs.mkdirSync(dst, 0o700);
  state.stats.dirs++;
  for (const name of fs.readdirSync(src)) copyNode(join(src, name), join(dst, name), state);
  finishAttrs(src, dst, st, state.ports, existing === undefined);
  state.dirTimes.push([dst, st]);
}

function copyFileNode(src: string, dst: string, st: StatxResult, state: CopyState): void {
  const key = `${st.dev}:${st.ino}`;
  const first = st.nlink > 1 ? state.links.get(key) : undefined;
  if (first !== undefined) {
    fs.linkSync(first, dst);
    return;
  }
  // With its final mode (copyFile sets it after the data): finishAttrs then only chmods again
  // where a chown cleared setuid/setgid.
  const method = state.ports.copyFile(src, dst, st.mode & 0o7777);
  state.stats.methods[method]++;
  state.stats.files++;
  state.stats.bytes += st.size;
  if (st.nlink > 1) state.links.set(key, dst);
}

/** Replaces a file of the layer being written to (a later `layer add` wins, as in a Dockerfile COPY). */
function replaceNonDir(dst: string): void {
  const st = lstatOrUndefined(dst);
  if (st === undefined) return;
  if (st.kind === 'dir') throw new ShibafuError('PATH_CONFLICT', `Cannot copy over "${dst}": it is a directory in the layer`);
  fs.unlinkSync(dst);
}

/** Owner, mode, xattrs and (but for directories, timed last) times; `fresh`: made by this copy. */
function finishAttrs(src: string, dst: string, st: StatxResult, ports: StorePorts, fresh: boolean): void {
  // A node this copy just made, in a directory it made (0700, no setgid until its own attributes
  // are set, after its entries), is owned 0:0 already when this process runs as root.
  const chown = !fresh || !CREATES_ROOT_OWNED || st.uid !== 0 || st.gid !== 0;
  if (chown) fs.lchownSync(dst, st.uid, st.gid);
  // A copied file has its mode from copyFile, unless the chown just cleared setuid/setgid.
  const chmod = st.kind === 'file' ? !fresh || (chown && (st.mode & 0o6000) !== 0) : st.kind !== 'symlink';
  if (chmod) fs.chmodSync(dst, st.mode & 0o7777);
  for (const name of ports.llistxattr(src)) {
    if (!copyableXattr(name)) continue;
    const value = ports.lgetxattr(src, name);
    if (value !== null) ports.lsetxattr(dst, name, value);
  }
  if (st.kind !== 'dir') ports.lutimens(dst, st.atime, timespecOf(st.mtimeNs));
}
