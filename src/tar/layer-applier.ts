/**
 * Carries out ApplyOps inside one empty layer directory, in overlay's on-disk format
 * (src/format/overlay-format.ts); createLayerApplier picks this or the dir-format applier.
 *
 * Safety rests on one invariant: the directory starts empty and only this applier writes to it,
 * so it knows every directory it made. A path is only ever resolved through directories in that
 * set (never through a symlink or a file the archive created), and the last component is always
 * created with O_EXCL / mkdir / symlink / mknod / link, none of which follow a final symlink.
 * Duplicates therefore show up as EEXIST and never overwrite anything.
 */
import * as fs from 'node:fs';
import { ShibafuError, errnoCode, fromSystemError } from '../errors.js';
import type { LayerFormat } from '../format/layer-format.js';
import { DEFAULT_OVERLAY_NAMESPACE, markOpaque, markWhiteout, type OverlayNamespace } from '../format/overlay-format.js';
import type { LowerView } from '../format/overlay-lowers.js';
import type { ApplyOp, Attrs } from './apply-op.js';
import { BATCH_BYTES, BackgroundFailure, BackgroundFiles } from './background-files.js';
import { DirLayerApplier, type DirApplyPorts } from './dir-layer-applier.js';
import { startSparseFile, writeFileData, type SparseWrite } from './sparse-file.js';
import type { SparseMap } from './sparse-map.js';

/** The special calls the applier needs (src/sys implements them with koffi). */
export interface ApplyPorts {
  mknod(path: string, kind: 'char' | 'block' | 'fifo', mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** Exact {sec, nsec} times (Node's utimes rounds through a double). */
  futimens(fd: number, atime: Time, mtime: Time): void;
  lutimens(path: string, atime: Time, mtime: Time): void;
}

type Time = { readonly sec: number; readonly nsec: number };

export interface ApplyLimits {
  readonly maxEntries: number;
}

/**
 * Plain small files seen before their writes move to a second thread (background-files.ts): a
 * thread costs ~20 ms to start, which a small archive does not win back.
 */
const BACKGROUND_AFTER = 512;

export interface ApplyStats {
  /** Entries applied (whiteouts and opaque markers included). */
  entries: number;
  /** Bytes of regular-file content written. */
  bytes: number;
  /** Regular files written by the background thread (background-files.ts). */
  background: number;
}

// Created 0600 and chmod-ed after chown: chown clears setuid/setgid, and a file must never be
// briefly readable by others before its real mode is in place. The exception, a file that is born
// with its final owner and has no special bits, is created with its final mode (#openFile).
const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const S_ISGID = 0o2000;
/** Marks a directory's mode in #exactModes (above any mode bit). */
const DIR_MODE_KEY = 0o10000;

/** What the import drives, whatever the format: ops in, file content after a `file` op. */
export interface OpApplier {
  readonly stats: ApplyStats;
  apply(op: ApplyOp): void;
  data(chunk: Buffer): void;
  endEntry(): void;
  finish(): void;
  abort(): void;
}

/**
 * Where and how a layer is applied: an empty dir in overlay's format (with the merged view of the
 * layers it goes on, null for none), or a parent's full tree in dir format.
 */
export type ApplierTarget =
  | { readonly format: Extract<LayerFormat, { kind: 'overlay' }>; readonly root: string; readonly ports: ApplyPorts; readonly limits: ApplyLimits; readonly below: LowerView | null }
  | { readonly format: Extract<LayerFormat, { kind: 'dir' }>; readonly root: string; readonly ports: DirApplyPorts; readonly limits: ApplyLimits };

/**
 * The applier of a layer format, chosen once per layer.
 *
 * @example
 * const a = createLayerApplier({ format: DIR_LAYER_FORMAT, root: snapshot, ports, limits });
 */
export function createLayerApplier(target: ApplierTarget): OpApplier {
  if (target.format.kind === 'dir') return new DirLayerApplier(target.root, target.ports as DirApplyPorts, target.limits);
  const overlay = target as Extract<ApplierTarget, { readonly below: LowerView | null }>;
  return new LayerApplier(overlay.root, overlay.ports, overlay.limits, overlay.below, target.format.namespace);
}

export class LayerApplier implements OpApplier {
  readonly #root: string;
  readonly #namespace: OverlayNamespace;
  readonly #ports: ApplyPorts;
  readonly #limits: ApplyLimits;
  readonly #below: LowerView | null;
  readonly #dirs = new Set<string>(['']);
  readonly #whiteouts = new Set<string>();
  readonly #opaque = new Set<string>();
  readonly #dirTimes: [string, Time][] = [];
  /**
   * Directories in which a new file is created owned by this process's euid:egid: group egid and
   * no setgid bit, so neither setgid inheritance nor a `grpid` mount gives it another group. A file
   * whose owner is that already needs no fchown (one Node call of ~5 us per file, measured).
   */
  readonly #plainDirs = new Set<string>();
  /**
   * Per directory, whether a file created there with a mode comes out with exactly that mode (umask
   * and a default ACL both mask it). Checked once by fstat per (directory, mode): a file that already
   * has its owner and a plain mode is then created with it and needs no fchmod (~5 us per file).
   */
  readonly #exactModes = new Map<string, Map<number, boolean>>();
  readonly #euid: number;
  readonly #egid: number;
  #file: { fd: number; path: string; remaining: number; attrs: Attrs; chown: boolean; chmod: boolean; sparse: SparseWrite | null } | null = null;
  /** The file being queued for the background thread: its slot and how much of it is in. */
  #queued: { offset: number; written: number; key: string } | null = null;
  #background: BackgroundFiles | null = null;
  #plainFiles = 0;
  readonly stats: ApplyStats = { entries: 0, bytes: 0, background: 0 };

  /** `below`: the merged view of the layers this one goes on; null for a layer on nothing. */
  constructor(root: string, ports: ApplyPorts, limits: ApplyLimits, below: LowerView | null, namespace: OverlayNamespace = DEFAULT_OVERLAY_NAMESPACE) {
    this.#root = root;
    this.#namespace = namespace;
    this.#ports = ports;
    this.#limits = limits;
    this.#below = below;
    this.#euid = process.geteuid?.() ?? -1;
    this.#egid = process.getegid?.() ?? -1;
    const st = fs.statSync(root);
    if (st.gid === this.#egid && (st.mode & S_ISGID) === 0) this.#plainDirs.add('');
  }

  /** Applies one op; for a `file` op, its content follows through `data()` and `endEntry()`. */
  apply(op: ApplyOp): void {
    if (op.op === 'skip') return;
    if (++this.stats.entries > this.#limits.maxEntries) {
      throw new ShibafuError('LIMIT_EXCEEDED', `Cannot import: the archive has more than ${this.#limits.maxEntries} entries`, {
        hint: 'Raise the limit with --max-entries if the archive is trusted.',
      });
    }
    switch (op.op) {
      case 'dir': return this.#dir(op.parts, op.attrs);
      case 'file': return this.#openFile(op.parts, op.attrs, op.size);
      case 'sparse': return this.#openSparse(op.parts, op.attrs, op.map);
      case 'symlink': return this.#symlink(op.parts, op.target, op.attrs);
      case 'hardlink': return this.#hardlink(op.parts, op.targetParts);
      case 'device': return this.#device(op.parts, op.kind, op.major, op.minor, op.attrs);
      case 'whiteout': return this.#whiteout(op.parts);
      case 'opaque': return this.#makeOpaque(this.#ensureDir(op.dirParts));
    }
  }

  /** Content of the current file entry. */
  data(chunk: Buffer): void {
    const q = this.#queued;
    if (q !== null) {
      (this.#background as BackgroundFiles).fill(q.offset, q.written, chunk);
      q.written += chunk.length;
      this.stats.bytes += chunk.length;
      return;
    }
    const f = this.#file;
    if (f === null) return;
    writeFileData(f.fd, f.sparse, chunk, f.path);
    f.remaining -= chunk.length;
    this.stats.bytes += chunk.length;
  }

  /** Ends the current entry: a file gets its owner, mode, xattrs and times once its bytes are in. */
  endEntry(): void {
    this.#queued = null;
    const f = this.#file;
    if (f === null) return;
    this.#file = null;
    try {
      if (f.chown) fs.fchownSync(f.fd, f.attrs.uid, f.attrs.gid);
      if (f.chmod) fs.fchmodSync(f.fd, f.attrs.mode);
      this.#setXattrs(f.path, f.attrs);
      this.#ports.futimens(f.fd, f.attrs.mtime, f.attrs.mtime);
    } catch (err) {
      throw fromSystemError(err, `set the attributes of "${f.path}"`);
    } finally {
      fs.closeSync(f.fd);
    }
  }

  /** Sets directory times last: creating children would otherwise change them again. */
  finish(): void {
    if (this.#file !== null || this.#queued !== null) this.endEntry();
    this.#settleAll();
    const bg = this.#background;
    if (bg !== null) this.#onThread(() => bg.close());
    if (this.#whiteouts.size > 0 && this.#opaque.size > 0) this.#dropHiddenWhiteouts();
    for (const [path, t] of this.#dirTimes) {
      try {
        this.#ports.lutimens(path, t, t);
      } catch (err) {
        throw fromSystemError(err, `set the time of "${path}"`);
      }
    }
  }

  /** Closes an open file after a failure (the staged directory is removed by the caller). */
  abort(): void {
    if (this.#file !== null) {
      try { fs.closeSync(this.#file.fd); } catch { /* already failing */ }
      this.#file = null;
    }
    this.#queued = null;
    // The thread must be done with the staged directory before the caller removes it.
    this.#background?.close(true);
  }

  /** Waits for the queued files if one of them is at `key`, so what follows sees it on disk. */
  #settle(key: string): void {
    if (this.#background?.isPending(key) === true) this.#settleAll();
  }

  /** Waits until every queued file is written; a failure is the error the main thread would raise. */
  #settleAll(): void {
    const bg = this.#background;
    if (bg !== null) this.#onThread(() => bg.drain());
  }

  /** Runs a call into the background queue; a file the thread failed to write throws here. */
  #onThread<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof BackgroundFailure)) throw err;
      throw this.#backgroundError(err);
    }
  }

  /** The error the main thread would have raised for the file the thread failed to write. */
  #backgroundError(f: BackgroundFailure): ShibafuError {
    if (f.path === '') return new ShibafuError('INTERNAL', `Cannot import: ${f.message}`, { cause: f });
    const key = f.path.slice(this.#root.length + 1);
    if (f.step === 'open' && f.code === 'EEXIST') return duplicateEntry('file', key);
    const cause = Object.assign(new Error(f.message), { code: f.code });
    if (f.step === 'open') return fromSystemError(cause, `create file "${key}"`);
    if (f.step === 'write') return fromSystemError(cause, `write "${f.path}"`);
    return fromSystemError(cause, `set the attributes of "${f.path}"`);
  }

  #abs(key: string): string {
    return key === '' ? this.#root : `${this.#root}/${key}`;
  }

  /** Makes every ancestor a directory of this layer; returns the key of `parts` itself. */
  #ensureDir(parts: readonly string[]): string {
    let key = '';
    for (const part of parts) {
      const parent = key;
      key = key === '' ? part : `${key}/${part}`;
      if (this.#dirs.has(key)) continue;
      this.#settle(key);
      const abs = this.#abs(key);
      try {
        fs.mkdirSync(abs, 0o755);
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw fromSystemError(err, `create directory "${key}"`);
        if (!this.#replaceWhiteout(key)) {
          throw new ShibafuError('PATH_CONFLICT', `Cannot import "${parts.join('/')}": "${key}" is not a directory in this archive`);
        }
        fs.mkdirSync(abs, 0o755);
        this.#makeOpaque(key);
      }
      this.#dirs.add(key);
      if (this.#plainDirs.has(parent)) this.#plainDirs.add(key);
    }
    return key;
  }

  /** Removes a whiteout this archive made at `key` so an entry can take its place. */
  #replaceWhiteout(key: string): boolean {
    if (!this.#whiteouts.has(key)) return false;
    fs.unlinkSync(this.#abs(key));
    this.#whiteouts.delete(key);
    return true;
  }

  #parentAndKey(parts: readonly string[]): string {
    this.#ensureDir(parts.slice(0, -1));
    return parts.join('/');
  }

  /**
   * Runs `create`; on EEXIST replaces this archive's own whiteout (OCI: a whiteout never hides an
   * entry of its own layer) or reports the duplicate. Returns true when a whiteout was replaced.
   */
  #create(key: string, what: string, create: () => void): boolean {
    this.#settle(key);
    try {
      create();
      return false;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw fromSystemError(err, `create ${what} "${key}"`);
    }
    if (!this.#replaceWhiteout(key)) throw duplicateEntry(what, key);
    try {
      create();
    } catch (err) {
      throw fromSystemError(err, `create ${what} "${key}"`);
    }
    return true;
  }

  #dir(parts: readonly string[], attrs: Attrs): void {
    const parent = this.#ensureDir(parts.slice(0, -1));
    const key = parts.join('/');
    const abs = this.#abs(key);
    // As for files (#openFile): a new directory that is born with its final owner and without
    // setuid/setgid/sticky is made with its final mode, and needs no lchown (and no chmod once
    // that mode is known to come out exact here): 2 calls fewer for most of the ~11,000
    // directories of the small-file benchmark. Any other one is made 0700, chowned, then chmod-ed.
    let chown = true;
    let chmod = true;
    if (!this.#dirs.has(key)) {
      const owned = attrs.uid === this.#euid && attrs.gid === this.#egid && this.#plainDirs.has(parent);
      const plain = owned && (attrs.mode & 0o7000) === 0;
      // A directory replacing this layer's whiteout of the same name hides the lower one: opaque.
      if (this.#create(key, 'directory', () => fs.mkdirSync(abs, plain ? attrs.mode : 0o700))) this.#makeOpaque(key);
      this.#dirs.add(key);
      chown = !owned;
      chmod = !plain || !this.#createsExactly(parent, attrs.mode | DIR_MODE_KEY, null, abs);
    }
    // Directory over directory replaces the attributes (image-spec layer.md).
    try {
      if (chown) fs.lchownSync(abs, attrs.uid, attrs.gid);
      if (chmod) fs.chmodSync(abs, attrs.mode);
      this.#setXattrs(abs, attrs);
    } catch (err) {
      throw fromSystemError(err, `set the attributes of "${key}"`);
    }
    // Its xattrs may have changed its default ACL: check creation modes again.
    this.#exactModes.delete(key);
    if (attrs.gid === this.#egid && (attrs.mode & S_ISGID) === 0) this.#plainDirs.add(key);
    else this.#plainDirs.delete(key);
    this.#dirTimes.push([abs, attrs.mtime]);
  }

  #openFile(parts: readonly string[], attrs: Attrs, size: number): void {
    const parent = this.#ensureDir(parts.slice(0, -1));
    const key = parts.join('/');
    const abs = this.#abs(key);
    const owned = attrs.uid === this.#euid && attrs.gid === this.#egid && this.#plainDirs.has(parent);
    // Only a file that is already its final owner's, without setuid/setgid/sticky, is created with
    // its final mode; every other one is created 0600 and chmod-ed after chown (see CREATE_FLAGS).
    const plain = owned && (attrs.mode & 0o7000) === 0;
    if (plain && this.#toBackground(parent, key, attrs, size)) {
      const bg = this.#background as BackgroundFiles;
      const offset = this.#onThread(() => bg.reserve(key, abs, attrs.mode, size, attrs.mtime.sec));
      this.#queued = { offset, written: 0, key };
      this.stats.background++;
      return;
    }
    let fd = -1;
    this.#create(key, 'file', () => { fd = fs.openSync(abs, CREATE_FLAGS, plain ? attrs.mode : 0o600); });
    this.#file = { fd, path: abs, remaining: size, attrs, chown: !owned, chmod: true, sparse: null };
    if (plain) this.#file.chmod = !this.#createsExactly(parent, attrs.mode, fd, abs);
  }

  /** A sparse file: made like any file on this thread, sized first, its data written at the map's offsets. */
  #openSparse(parts: readonly string[], attrs: Attrs, map: SparseMap): void {
    const parent = this.#ensureDir(parts.slice(0, -1));
    const key = parts.join('/');
    const abs = this.#abs(key);
    const owned = attrs.uid === this.#euid && attrs.gid === this.#egid && this.#plainDirs.has(parent);
    let fd = -1;
    this.#create(key, 'file', () => { fd = fs.openSync(abs, CREATE_FLAGS, 0o600); });
    // Owned by the applier from here: endEntry (or abort) closes it.
    this.#file = { fd, path: abs, remaining: 0, attrs, chown: !owned, chmod: true, sparse: null };
    this.#file.sparse = startSparseFile(fd, map, key);
  }

  /**
   * Whether a plain file (final owner, no special bits) goes to the background thread: one that
   * needs nothing but its creation with its mode (known to come out exact in `parent`), its bytes
   * and a whole-second mtime since 1970 (Node's futimes is exact for those), small enough for a
   * batch, at a key that is neither a directory nor a whiteout of this archive (those take the
   * main thread's path: a directory there is a duplicate, a whiteout is replaced). Starts the
   * thread once enough such files were seen.
   */
  #toBackground(parent: string, key: string, attrs: Attrs, size: number): boolean {
    // Node's futimes takes a negative time as "now": those stay on the main thread too.
    if (size > BATCH_BYTES || attrs.mtime.nsec !== 0 || attrs.mtime.sec < 0 || attrs.xattrs.length > 0) return false;
    if (this.#exactModes.get(parent)?.get(attrs.mode) !== true || this.#dirs.has(key) || this.#whiteouts.has(key)) return false;
    this.#settle(key);
    if (this.#background === null) {
      if (++this.#plainFiles < BACKGROUND_AFTER) return false;
      this.#background = new BackgroundFiles();
    }
    return true;
  }

  /**
   * Whether what is created in `dir` with `mode` gets exactly that mode; the first one tells.
   * `key` is the mode, plus DIR_MODE_KEY for directories (made by mkdir, not open).
   */
  #createsExactly(dir: string, key: number, fd: number | null, path: string): boolean {
    let modes = this.#exactModes.get(dir);
    if (modes === undefined) this.#exactModes.set(dir, modes = new Map());
    let exact = modes.get(key);
    if (exact === undefined) {
      try {
        exact = ((fd === null ? fs.lstatSync(path) : fs.fstatSync(fd)).mode & 0o7777) === (key & 0o7777);
      } catch (err) {
        throw fromSystemError(err, `read the mode of "${path}"`);
      }
      modes.set(key, exact);
    }
    return exact;
  }

  #symlink(parts: readonly string[], target: string, attrs: Attrs): void {
    const key = this.#parentAndKey(parts);
    const abs = this.#abs(key);
    this.#create(key, 'symlink', () => fs.symlinkSync(target, abs));
    try {
      fs.lchownSync(abs, attrs.uid, attrs.gid);
      this.#setXattrs(abs, attrs);
      this.#ports.lutimens(abs, attrs.mtime, attrs.mtime);
    } catch (err) {
      throw fromSystemError(err, `set the attributes of "${key}"`);
    }
  }

  #hardlink(parts: readonly string[], targetParts: readonly string[]): void {
    const key = this.#parentAndKey(parts);
    const targetKey = targetParts.join('/');
    const targetParent = targetParts.slice(0, -1).join('/');
    if (!this.#dirs.has(targetParent)) {
      throw new ShibafuError('LINK_UNSAFE', `Cannot import hardlink "${key}": its target "${targetKey}" is not a file of this archive`);
    }
    this.#settle(targetKey);
    const targetAbs = this.#abs(targetKey);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(targetAbs);
    } catch {
      throw new ShibafuError('LINK_UNSAFE', `Cannot import hardlink "${key}": its target "${targetKey}" is not a file of this archive`, {
        hint: 'A hardlink must follow the entry it points at, in the same layer.',
      });
    }
    // A symlink may be hardlinked too (`ln sh ash` on a symlink, as busybox images have): the
    // link is to the symlink itself. Node's linkSync is link(2), which on Linux is linkat without
    // AT_SYMLINK_FOLLOW: the target's own inode, never what it points at.
    if (!st.isFile() && !st.isSymbolicLink()) {
      throw new ShibafuError('LINK_UNSAFE', `Cannot import hardlink "${key}": its target "${targetKey}" is neither a regular file nor a symlink`);
    }
    this.#create(key, 'hardlink', () => fs.linkSync(targetAbs, this.#abs(key)));
  }

  #device(parts: readonly string[], kind: 'char' | 'block' | 'fifo', major: number, minor: number, attrs: Attrs): void {
    const key = this.#parentAndKey(parts);
    const abs = this.#abs(key);
    this.#create(key, kind === 'fifo' ? 'fifo' : `${kind} device`, () => this.#ports.mknod(abs, kind, 0o600, major, minor));
    try {
      fs.lchownSync(abs, attrs.uid, attrs.gid);
      fs.chmodSync(abs, attrs.mode);
      this.#setXattrs(abs, attrs);
      this.#ports.lutimens(abs, attrs.mtime, attrs.mtime);
    } catch (err) {
      throw fromSystemError(err, `set the attributes of "${key}"`);
    }
  }

  /**
   * `.wh.NAME` → a 0/0 character device NAME, overlay's whiteout (mode 0, as the kernel makes
   * them), where the layers below show NAME. Where they show nothing (always, in a layer on
   * nothing) it would hide nothing, and the kernel hides whiteouts only from the listing of a
   * directory merged from several layers: in one only this layer has, `ls -l` would show it as
   * `c?????????` (readdir lists it, lookup finds no file). None is made; the archive's entry
   * stays in the tar-split record, so the export is still the archive byte for byte.
   */
  #whiteout(parts: readonly string[]): void {
    this.#refuseBelowNonDir(parts);
    if (this.#below === null || !this.#below.has(parts)) return;
    const key = this.#parentAndKey(parts);
    if (this.#whiteouts.has(key)) return;
    this.#settle(key);
    if (this.#dirs.has(key)) {
      // The layer has this directory and also deletes the lower one: the lower must not show through.
      this.#makeOpaque(key);
      return;
    }
    try {
      markWhiteout(this.#ports, this.#abs(key));
      this.#whiteouts.add(key);
    } catch (err) {
      // Something of this layer already stands there: whiteouts only hide lower layers, so it stays.
      if (errnoCode(err) === 'EEXIST' || errnoCode((err as { cause?: unknown }).cause) === 'EEXIST') return;
      throw fromSystemError(err, `create whiteout "${key}"`);
    }
  }

  /**
   * PATH_CONFLICT when an ancestor of `parts` is a non-directory this archive made (a symlink, a
   * file): a whiteout is an entry below it like any other, whether it hides something or not.
   * Only the first ancestor this layer has no directory for needs a look: nothing of the layer
   * lies below one it does not have. Its own whiteout there is fine (#ensureDir replaces it).
   */
  #refuseBelowNonDir(parts: readonly string[]): void {
    let key = '';
    for (let i = 0; i < parts.length - 1; i++) {
      key = key === '' ? parts[i]! : `${key}/${parts[i]}`;
      if (this.#dirs.has(key)) continue;
      if (this.#whiteouts.has(key)) return;
      this.#settle(key);
      try {
        fs.lstatSync(this.#abs(key));
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return;
        throw fromSystemError(err, `read "${key}"`);
      }
      throw new ShibafuError('PATH_CONFLICT', `Cannot import "${parts.join('/')}": "${key}" is not a directory in this archive`);
    }
  }

  /**
   * Removes the whiteouts below a directory this layer made opaque (its marker may come after
   * them in the archive): the opaque directory already hides all the layers below have there, so
   * they hide nothing, and the directory, merged with none below, would list them (#whiteout).
   */
  #dropHiddenWhiteouts(): void {
    for (const key of this.#whiteouts) {
      let slash = key.lastIndexOf('/');
      let hidden = this.#opaque.has('');
      while (!hidden && slash > 0) {
        hidden = this.#opaque.has(key.slice(0, slash));
        slash = key.lastIndexOf('/', slash - 1);
      }
      if (!hidden) continue;
      try {
        fs.unlinkSync(this.#abs(key));
      } catch (err) {
        throw fromSystemError(err, `remove whiteout "${key}"`);
      }
      this.#whiteouts.delete(key);
    }
  }

  #makeOpaque(key: string): void {
    if (this.#opaque.has(key)) return;
    try {
      markOpaque(this.#ports, this.#abs(key), this.#namespace);
    } catch (err) {
      throw fromSystemError(err, `mark "${key}" opaque`);
    }
    this.#opaque.add(key);
  }

  #setXattrs(path: string, attrs: Attrs): void {
    for (const [name, value] of attrs.xattrs) this.#ports.lsetxattr(path, name, value);
  }
}

function duplicateEntry(what: string, key: string): ShibafuError {
  return new ShibafuError('DUPLICATE_ENTRY', `Cannot import ${what} "${key}": the archive already created that path`, {
    hint: 'An OCI layer tar must not contain the same path twice (image-spec layer.md).',
  });
}
