/**
 * Carries out ApplyOps into a directory that already holds the parent layer's FULL tree, in the
 * "dir" format (src/format/dir-format.ts): real deletions, no whiteouts, no opaque marks.
 *
 * Unlike the overlay applier it cannot rely on an empty start: the parent's tree may hold any
 * node, symlinks included. So every path is resolved one component at a time with lstat, starting
 * from the root, and only through components known to be real directories (#dirs); a symlink or
 * other non-directory where a directory is needed is replaced if the parent made it and refused if
 * the archive did; the last component is removed when it must be and then created with O_EXCL /
 * mkdir / symlink / mknod / link, none of which follow a final symlink. The parent's tree is
 * assumed still while the layer is applied (it is a private snapshot).
 *
 * It costs an lstat per new path, which the overlay applier (an empty start) does not pay: this
 * applier is separate so that the overlay import keeps its speed.
 */
import * as fs from 'node:fs';
import { ShibafuError, errnoCode, fromSystemError } from '../errors.js';
import { ancestorStep, entryStep, IMPLICIT_DIR_MODE, whiteoutStep, type FoundNode } from '../format/dir-format.js';
import type { ApplyOp, Attrs } from './apply-op.js';
import type { ApplyLimits, ApplyPorts, ApplyStats, OpApplier } from './layer-applier.js';
import { startSparseFile, writeFileData, type SparseWrite } from './sparse-file.js';
import type { SparseMap } from './sparse-map.js';

/** The overlay applier's calls, and the two that replace a kept directory's xattrs. */
export interface DirApplyPorts extends ApplyPorts {
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
}

type Time = { readonly sec: number; readonly nsec: number };

const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/**
 * @example
 * const a = new DirLayerApplier(snapshotDir, ports, { maxEntries: 1_000_000 });
 * a.apply(toApplyOp(entry, limits)); a.data(chunk); a.endEntry(); ... a.finish();
 */
export class DirLayerApplier implements OpApplier {
  readonly #root: string;
  readonly #ports: DirApplyPorts;
  readonly #limits: ApplyLimits;
  /**
   * Keys this layer wrote, and the directories on their paths. Closed under ancestors: nothing
   * in it is ever removed, so a directory in it stays a directory.
   */
  readonly #ours = new Set<string>(['']);
  /** Keys of this layer's directories (all in #ours): real directories, safe to resolve through. */
  readonly #dirs = new Set<string>(['']);
  /** Regular files and symlinks this layer wrote: the only targets a hardlink may have. */
  readonly #linkable = new Set<string>();
  readonly #dirTimes: [string, Time][] = [];
  #file: { fd: number; path: string; attrs: Attrs; sparse: SparseWrite | null } | null = null;
  readonly stats: ApplyStats = { entries: 0, bytes: 0, background: 0 };

  constructor(root: string, ports: DirApplyPorts, limits: ApplyLimits) {
    this.#root = root;
    this.#ports = ports;
    this.#limits = limits;
  }

  apply(op: ApplyOp): void {
    if (op.op === 'skip') return;
    if (++this.stats.entries > this.#limits.maxEntries) {
      throw new ShibafuError('LIMIT_EXCEEDED', `Cannot import: the archive has more than ${this.#limits.maxEntries} entries`, {
        hint: 'Raise the limit with --max-entries if the archive is trusted.',
      });
    }
    switch (op.op) {
      case 'dir': return this.#dir(op.parts, op.attrs);
      case 'file': return this.#openFile(op.parts, op.attrs);
      case 'sparse': return this.#openFile(op.parts, op.attrs, op.map);
      case 'symlink': return this.#symlink(op.parts, op.target, op.attrs);
      case 'hardlink': return this.#hardlink(op.parts, op.targetParts);
      case 'device': return this.#device(op.parts, op.kind, op.major, op.minor, op.attrs);
      case 'whiteout': return this.#whiteout(op.parts);
      case 'opaque': return this.#clearDir(this.#ensureDir(op.dirParts));
    }
  }

  data(chunk: Buffer): void {
    const f = this.#file;
    if (f === null) return;
    writeFileData(f.fd, f.sparse, chunk, f.path);
    this.stats.bytes += chunk.length;
  }

  endEntry(): void {
    const f = this.#file;
    if (f === null) return;
    this.#file = null;
    try {
      // chmod after chown: chown clears setuid/setgid.
      fs.fchownSync(f.fd, f.attrs.uid, f.attrs.gid);
      fs.fchmodSync(f.fd, f.attrs.mode);
      this.#setXattrs(f.path, f.attrs);
      this.#ports.futimens(f.fd, f.attrs.mtime, f.attrs.mtime);
    } catch (err) {
      throw fromSystemError(err, `set the attributes of "${f.path}"`);
    } finally {
      fs.closeSync(f.fd);
    }
  }

  /** Sets directory times last: creating and deleting children would otherwise move them again. */
  finish(): void {
    if (this.#file !== null) this.endEntry();
    for (const [path, t] of this.#dirTimes) {
      try {
        this.#ports.lutimens(path, t, t);
      } catch (err) {
        throw fromSystemError(err, `set the time of "${path}"`);
      }
    }
  }

  abort(): void {
    if (this.#file === null) return;
    try { fs.closeSync(this.#file.fd); } catch { /* already failing */ }
    this.#file = null;
  }

  #abs(key: string): string {
    return key === '' ? this.#root : `${this.#root}/${key}`;
  }

  /** lstat of a path whose ancestors are real directories; null when absent. */
  #found(key: string): FoundNode | null {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.#abs(key));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw fromSystemError(err, `read "${key}"`);
    }
    return { isDir: st.isDirectory(), ours: this.#ours.has(key) };
  }

  /** Makes every component of `parts` a directory of this layer; returns its key. */
  #ensureDir(parts: readonly string[]): string {
    let key = '';
    for (const part of parts) {
      key = key === '' ? part : `${key}/${part}`;
      if (this.#dirs.has(key)) continue;
      const abs = this.#abs(key);
      const step = ancestorStep(this.#found(key));
      if (step === 'conflict') {
        throw new ShibafuError('PATH_CONFLICT', `Cannot import "${parts.join('/')}": "${key}" is not a directory in this archive`);
      }
      try {
        // The parent's symlink (or file) there is replaced, never followed.
        if (step === 'replace') fs.unlinkSync(abs);
        if (step !== 'enter') fs.mkdirSync(abs, IMPLICIT_DIR_MODE);
      } catch (err) {
        throw fromSystemError(err, `create directory "${key}"`);
      }
      this.#dirs.add(key);
      this.#ours.add(key);
    }
    return key;
  }

  /**
   * Clears the path of an entry as the dir format says; returns its key, and whether a directory
   * stays there (directory over directory).
   */
  #prepare(parts: readonly string[], isDir: boolean, what: string): { key: string; kept: boolean } {
    this.#ensureDir(parts.slice(0, -1));
    const key = parts.join('/');
    const step = entryStep(this.#found(key), isDir);
    if (step === 'duplicate') {
      throw new ShibafuError('DUPLICATE_ENTRY', `Cannot import ${what} "${key}": the archive already created that path`, {
        hint: 'An OCI layer tar must not contain the same path twice (image-spec layer.md).',
      });
    }
    try {
      if (step === 'unlink') fs.unlinkSync(this.#abs(key));
      if (step === 'remove-tree') fs.rmSync(this.#abs(key), { recursive: true });
    } catch (err) {
      throw fromSystemError(err, `replace "${key}"`);
    }
    this.#ours.add(key);
    return { key, kept: step === 'update-dir' };
  }

  #dir(parts: readonly string[], attrs: Attrs): void {
    const { key, kept } = this.#prepare(parts, true, 'directory');
    const abs = this.#abs(key);
    try {
      if (!kept) fs.mkdirSync(abs, 0o700);
      this.#dirs.add(key);
      fs.lchownSync(abs, attrs.uid, attrs.gid);
      fs.chmodSync(abs, attrs.mode);
      // A kept directory takes exactly the entry's xattrs, as overlay shows the layer's directory.
      if (kept) this.#dropOtherXattrs(abs, attrs);
      this.#setXattrs(abs, attrs);
    } catch (err) {
      throw fromSystemError(err, `set the attributes of "${key}"`);
    }
    this.#dirTimes.push([abs, attrs.mtime]);
  }

  /** A regular file; with a sparse `map`, sized first and its data written at the map's offsets. */
  #openFile(parts: readonly string[], attrs: Attrs, map?: SparseMap): void {
    const { key } = this.#prepare(parts, false, 'file');
    const abs = this.#abs(key);
    let fd: number;
    try {
      // 0600 until its owner and mode are set (endEntry): never briefly readable by others.
      fd = fs.openSync(abs, CREATE_FLAGS, 0o600);
    } catch (err) {
      throw fromSystemError(err, `create file "${key}"`);
    }
    this.#linkable.add(key);
    this.#file = { fd, path: abs, attrs, sparse: null };
    if (map !== undefined) this.#file.sparse = startSparseFile(fd, map, key);
  }

  #symlink(parts: readonly string[], target: string, attrs: Attrs): void {
    const { key } = this.#prepare(parts, false, 'symlink');
    const abs = this.#abs(key);
    try {
      fs.symlinkSync(target, abs);
      fs.lchownSync(abs, attrs.uid, attrs.gid);
      this.#setXattrs(abs, attrs);
      this.#ports.lutimens(abs, attrs.mtime, attrs.mtime);
    } catch (err) {
      throw fromSystemError(err, `create symlink "${key}"`);
    }
    this.#linkable.add(key);
  }

  #hardlink(parts: readonly string[], targetParts: readonly string[]): void {
    const targetKey = targetParts.join('/');
    // Only a regular file or symlink this layer wrote: a parent's file (or anything reached
    // through a parent's symlink) would tie the layer to an inode it does not own.
    if (!this.#linkable.has(targetKey)) {
      throw new ShibafuError('LINK_UNSAFE', `Cannot import hardlink "${parts.join('/')}": its target "${targetKey}" is not a file of this archive`, {
        hint: 'A hardlink must follow the entry it points at, in the same layer.',
      });
    }
    const { key } = this.#prepare(parts, false, 'hardlink');
    try {
      // link(2): no AT_SYMLINK_FOLLOW, a symlink target is linked itself (layer-applier.ts).
      fs.linkSync(this.#abs(targetKey), this.#abs(key));
    } catch (err) {
      throw fromSystemError(err, `create hardlink "${key}"`);
    }
  }

  #device(parts: readonly string[], kind: 'char' | 'block' | 'fifo', major: number, minor: number, attrs: Attrs): void {
    const { key } = this.#prepare(parts, false, kind === 'fifo' ? 'fifo' : `${kind} device`);
    const abs = this.#abs(key);
    try {
      this.#ports.mknod(abs, kind, 0o600, major, minor);
      fs.lchownSync(abs, attrs.uid, attrs.gid);
      fs.chmodSync(abs, attrs.mode);
      this.#setXattrs(abs, attrs);
      this.#ports.lutimens(abs, attrs.mtime, attrs.mtime);
    } catch (err) {
      throw fromSystemError(err, `create "${key}"`);
    }
  }

  /** `.wh.NAME`: deletes the parent's NAME; this layer's own node stays. */
  #whiteout(parts: readonly string[]): void {
    // Resolved without creating anything: a whiteout under a missing or non-directory path has
    // nothing to delete.
    let key = '';
    for (const part of parts.slice(0, -1)) {
      key = key === '' ? part : `${key}/${part}`;
      if (this.#dirs.has(key)) continue;
      const found = this.#found(key);
      if (found === null || !found.isDir) return;
    }
    key = parts.join('/');
    const step = whiteoutStep(this.#found(key));
    if (step === 'clear-dir') this.#clearDir(key);
    else if (step === 'remove-tree') this.#removeTree(key);
  }

  /** Removes every entry of directory `key` that came from the parent, keeping this layer's. */
  #clearDir(key: string): void {
    const abs = this.#abs(key);
    let names: string[];
    try {
      names = fs.readdirSync(abs);
    } catch (err) {
      throw fromSystemError(err, `list "${key}"`);
    }
    for (const name of names) {
      const child = key === '' ? name : `${key}/${name}`;
      if (!this.#ours.has(child)) this.#removeTree(child);
      else if (this.#dirs.has(child)) this.#clearDir(child);
    }
  }

  /** Removes a node of the parent and everything below it (rm does not follow symlinks). */
  #removeTree(key: string): void {
    try {
      fs.rmSync(this.#abs(key), { recursive: true, force: true });
    } catch (err) {
      throw fromSystemError(err, `delete "${key}"`);
    }
  }

  #dropOtherXattrs(path: string, attrs: Attrs): void {
    const keep = new Set(attrs.xattrs.map(([name]) => name));
    for (const name of this.#ports.llistxattr(path)) if (!keep.has(name)) this.#ports.lremovexattr(path, name);
  }

  #setXattrs(path: string, attrs: Attrs): void {
    for (const [name, value] of attrs.xattrs) this.#ports.lsetxattr(path, name, value);
  }
}
