/**
 * CopyToLayer: copies a host file or tree into a layer directory, keeping types, owners, modes,
 * times, xattrs and hardlinks, with the best copy the file system offers (reflink, else
 * copy_file_range, else read/write: chosen by the CopyPort, which probes once).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { ShibafuError, errnoCode, fromSystemError } from '../errors.js';
import { devMajor, devMinor } from '../sys/mknod.js';
import type { StorePorts } from './ports.js';

export interface CopyStats {
  files: number;
  dirs: number;
  bytes: number;
  methods: Record<'reflink' | 'copy_file_range' | 'copy', number>;
}

/** A host tree may carry overlay metadata (an upper dir): only the opaque marker keeps its meaning. */
function copyableXattr(name: string): boolean {
  return !name.startsWith('trusted.overlay.') || name === 'trusted.overlay.opaque';
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
  const dirTimes: [string, fs.BigIntStats][] = [];
  copyNode(src, dst, { ports, stats, links, dirTimes });
  for (const [path, st] of dirTimes.reverse()) ports.lutimens(path, timespec(st.atimeNs), timespec(st.mtimeNs));
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

function lstatOrUndefined(path: string): fs.BigIntStats | undefined {
  try {
    return fs.lstatSync(path, { bigint: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw fromSystemError(err, `read "${path}"`);
  }
}

function checkMerge(staged: string, dst: string): void {
  const existing = lstatOrUndefined(dst);
  if (existing === undefined) return;
  const isDir = fs.lstatSync(staged).isDirectory();
  if (isDir && !existing.isDirectory()) {
    throw new ShibafuError('PATH_CONFLICT', `Cannot copy directory "${staged}": "${dst}" exists and is not a directory`);
  }
  if (!isDir && existing.isDirectory()) throw new ShibafuError('PATH_CONFLICT', `Cannot copy over "${dst}": it is a directory in the layer`);
  if (isDir) for (const name of fs.readdirSync(staged)) checkMerge(join(staged, name), join(dst, name));
}

function moveIn(staged: string, dst: string, ports: StorePorts): void {
  const existing = lstatOrUndefined(dst);
  if (existing === undefined || !existing.isDirectory()) {
    // rename(2) replaces a non-directory atomically: the old file is there until the new one is.
    fs.renameSync(staged, dst);
    return;
  }
  for (const name of fs.readdirSync(staged)) moveIn(join(staged, name), join(dst, name), ports);
  const st = fs.lstatSync(staged, { bigint: true });
  const state: CopyState = { ports, stats: newCopyStats(), links: new Map(), dirTimes: [] };
  finishAttrs(staged, dst, st, state);
  ports.lutimens(dst, timespec(st.atimeNs), timespec(st.mtimeNs));
}

function newCopyStats(): CopyStats {
  return { files: 0, dirs: 0, bytes: 0, methods: { reflink: 0, copy_file_range: 0, copy: 0 } };
}

interface CopyState {
  ports: StorePorts;
  stats: CopyStats;
  /** dev:ino → first copied path, so hardlinks inside the tree stay hardlinks. */
  links: Map<string, string>;
  dirTimes: [string, fs.BigIntStats][];
}

function copyNode(src: string, dst: string, state: CopyState): void {
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(src, { bigint: true });
  } catch (err) {
    throw fromSystemError(err, `read "${src}"`);
  }
  try {
    if (st.isDirectory()) return copyDir(src, dst, st, state);
    replaceNonDir(dst);
    if (st.isFile()) copyFileNode(src, dst, st, state);
    else if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst);
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      state.ports.mknod(dst, st.isCharacterDevice() ? 'char' : 'block', Number(st.mode) & 0o7777, devMajor(st.rdev), devMinor(st.rdev));
    } else if (st.isFIFO()) state.ports.mknod(dst, 'fifo', Number(st.mode) & 0o7777, 0, 0);
    else return; // sockets belong to a running process, not to an image
    finishAttrs(src, dst, st, state);
  } catch (err) {
    throw fromSystemError(err, `copy "${src}"`);
  }
}

function copyDir(src: string, dst: string, st: fs.BigIntStats, state: CopyState): void {
  let existing: fs.BigIntStats | undefined;
  try { existing = fs.lstatSync(dst, { bigint: true }); } catch { existing = undefined; }
  if (existing !== undefined && !existing.isDirectory()) {
    throw new ShibafuError('PATH_CONFLICT', `Cannot copy directory "${src}": "${dst}" exists and is not a directory`);
  }
  if (existing === undefined) fs.mkdirSync(dst, 0o700);
  state.stats.dirs++;
  for (const name of fs.readdirSync(src)) copyNode(join(src, name), join(dst, name), state);
  finishAttrs(src, dst, st, state);
  state.dirTimes.push([dst, st]);
}

function copyFileNode(src: string, dst: string, st: fs.BigIntStats, state: CopyState): void {
  const key = `${st.dev}:${st.ino}`;
  const first = st.nlink > 1n ? state.links.get(key) : undefined;
  if (first !== undefined) {
    fs.linkSync(first, dst);
    return;
  }
  const method = state.ports.copyFile(src, dst, 0o600);
  state.stats.methods[method]++;
  state.stats.files++;
  state.stats.bytes += Number(st.size);
  if (st.nlink > 1n) state.links.set(key, dst);
}

/** Replaces a file of the layer being written to (a later `layer add` wins, as in a Dockerfile COPY). */
function replaceNonDir(dst: string): void {
  try {
    const st = fs.lstatSync(dst);
    if (st.isDirectory()) throw new ShibafuError('PATH_CONFLICT', `Cannot copy over "${dst}": it is a directory in the layer`);
    fs.unlinkSync(dst);
  } catch (err) {
    if (err instanceof ShibafuError) throw err;
  }
}

function finishAttrs(src: string, dst: string, st: fs.BigIntStats, state: CopyState): void {
  fs.lchownSync(dst, Number(st.uid), Number(st.gid));
  if (!st.isSymbolicLink()) fs.chmodSync(dst, Number(st.mode) & 0o7777);
  for (const name of state.ports.llistxattr(src)) {
    if (!copyableXattr(name)) continue;
    const value = state.ports.lgetxattr(src, name);
    if (value !== null) state.ports.lsetxattr(dst, name, value);
  }
  if (!st.isDirectory()) state.ports.lutimens(dst, timespec(st.atimeNs), timespec(st.mtimeNs));
}

/** Nanoseconds since the epoch as the {sec, nsec} pair utimensat takes (exact, unlike a Date). */
function timespec(ns: bigint): { sec: number; nsec: number } {
  const sec = ns / 1_000_000_000n;
  const nsec = ns - sec * 1_000_000_000n;
  return nsec < 0n ? { sec: Number(sec - 1n), nsec: Number(nsec + 1_000_000_000n) } : { sec: Number(sec), nsec: Number(nsec) };
}
