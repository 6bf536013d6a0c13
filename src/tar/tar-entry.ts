/**
 * Turns a header block plus the extension records before it (PAX 'x' and 'g', GNU 'L' and 'K')
 * into one fully resolved entry. Pure: the parser owns the stream, this owns the precedence rules:
 * PAX path > GNU long name > ustar prefix/name; PAX records > header fields; local PAX > global PAX.
 *
 * Names are decoded as UTF-8 and bytes that are not valid UTF-8 are refused (TAR_UNSUPPORTED)
 * rather than replaced: a replacement character would silently create a different file, and two
 * different names could collide. OCI layers written by Docker, BuildKit, podman and GNU tar in pax
 * format use UTF-8; a legacy archive with Latin-1 names is the accepted limitation.
 */
import { isUtf8 } from 'node:buffer';
import { ShibafuError } from '../errors.js';
import type { RawHeader } from './tar-header.js';
import type { SparseMap } from './sparse-map.js';

/** Kind of file an entry creates. 'link' is a hard link to `linkpath`. */
export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** A timestamp with nanoseconds, `nsec` always in [0, 1e9). */
export interface TarTime {
  sec: number;
  nsec: number;
}

/**
 * One archive member, ready to apply. `path` and `linkpath` are exactly as archived (not normalized,
 * not checked for safety: that is the importer's job). `size` is the number of data bytes the entry
 * delivers through `onData`, so it is 0 for everything but files; for a sparse file those are its
 * segments' bytes, one after another, and `sparse` says where each goes.
 */
export interface TarEntry {
  path: string;
  linkpath: string;
  type: EntryType;
  size: number;
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: TarTime;
  atime: TarTime | undefined;
  devmajor: number;
  devminor: number;
  /** From PAX `SCHILY.xattr.NAME` (raw bytes) and `LIBARCHIVE.xattr.NAME` (base64). */
  xattrs: Map<string, Buffer>;
  /** Byte offset of the entry's own header block in the archive. */
  headerOffset: number;
  /** A GNU sparse file's map (src/tar/sparse-map.ts), checked against `size`; undefined otherwise. */
  sparse: SparseMap | undefined;
}

/** Extension records seen since the previous entry, and the global PAX records in force. */
export interface PendingExtensions {
  global: Map<string, Buffer> | null;
  local: Map<string, Buffer> | null;
  longName: Buffer | null;
  longLink: Buffer | null;
  /** Whether `local` holds GNU sparse records (GNU.sparse.*), found as it was parsed. */
  sparse: boolean;
  /** GNU sparse format 0.0's offset/size records in order (they repeat, which `local` cannot hold). */
  sparsePairs: number[] | null;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
  // Old GNU sparse file: a regular file whose data is stored without its holes (sparse-map.ts).
  S: 'file',
};

const UNSUPPORTED_NAMES: Record<string, string> = {
  V: 'GNU volume label',
  M: 'GNU multi-volume continuation',
  N: 'old GNU long name',
  D: 'GNU incremental dump directory',
};

/**
 * Builds the entry for header `h` found at byte `offset`.
 *
 * @example
 * const entry = resolveEntry(decodeHeader(block, 0)!, { global: null, local: null, longName: null, longLink: null, sparse: false, sparsePairs: null }, 0);
 */
export function resolveEntry(h: RawHeader, ext: PendingExtensions, offset: number): TarEntry {
  const pax = ext.local !== null || ext.global !== null ? ext : null;
  const path = resolvePath(h, ext, pax, offset);
  let type = TYPES[h.typeflag];
  if (type === undefined) {
    const what = UNSUPPORTED_NAMES[h.typeflag] ?? `typeflag ${JSON.stringify(h.typeflag)}`;
    throw new ShibafuError('TAR_UNSUPPORTED', `Cannot read tar entry "${path}" at byte ${offset}: ${what} entries are not supported`, {
      details: { offset, path, typeflag: h.typeflag },
    });
  }
  // Pre-POSIX tars mark directories only by a trailing slash on an old-style regular file.
  if (h.typeflag === '\0' && path.endsWith('/')) type = 'dir';
  const e: TarEntry = {
    path,
    linkpath: resolveLinkpath(h, ext, pax, path, offset),
    type,
    size: 0,
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    uname: h.uname,
    gname: h.gname,
    mtime: { sec: h.mtime, nsec: 0 },
    atime: undefined,
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs: new Map(),
    headerOffset: offset,
    sparse: undefined,
  };
  if (pax !== null) applyPax(e, pax, offset);
  return e;
}

/**
 * Bytes of payload that follow header `h` in the stream; a PAX `size` overrides the field. As GNU
 * tar 1.34 does (checked with crafted archives), every member's `size` bytes are skipped except for
 * hard links and directories, whose size field is ignored (a directory's is an allocation hint).
 */
export function payloadSize(h: RawHeader, ext: PendingExtensions, offset: number): number {
  if (h.typeflag === '5' || h.typeflag === '1') return 0;
  const v = paxValue(ext, 'size');
  return v === undefined ? h.size : paxInteger(v, 'size', offset);
}

/**
 * The value of PAX keyword `key` for the next entry (local over global); undefined when unset.
 *
 * @example
 * paxValue(pending, 'GNU.sparse.realsize')
 */
export function paxValue(ext: PendingExtensions, key: string): Buffer | undefined {
  const v = ext.local?.has(key) ? ext.local.get(key) : ext.global?.get(key);
  // POSIX: a record with an empty value unsets the keyword.
  return v === undefined || v.length === 0 ? undefined : v;
}

function resolvePath(h: RawHeader, ext: PendingExtensions, pax: PendingExtensions | null, offset: number): string {
  // GNU sparse formats 0.1 and 1.0 archive the file as DIR/GNUSparseFile.PID/NAME, so that a tar
  // without sparse support extracts it apart; the real name is this record (GNU tar's precedence).
  const sparseName = ext.sparse ? paxValue(ext, 'GNU.sparse.name') : undefined;
  if (sparseName !== undefined) return checkedName(sparseName, 'GNU.sparse.name', offset);
  const fromPax = pax === null ? undefined : paxValue(pax, 'path');
  if (fromPax !== undefined) return checkedName(fromPax, 'path', offset);
  if (ext.longName !== null) return checkedName(ext.longName, 'GNU long name', offset);
  if (!h.nameUtf8) throw notUtf8('name', offset);
  return h.prefix === '' ? h.name : `${h.prefix}/${h.name}`;
}

function resolveLinkpath(
  h: RawHeader,
  ext: PendingExtensions,
  pax: PendingExtensions | null,
  path: string,
  offset: number,
): string {
  const fromPax = pax === null ? undefined : paxValue(pax, 'linkpath');
  if (fromPax !== undefined) return checkedName(fromPax, 'linkpath', offset);
  if (ext.longLink !== null) return checkedName(ext.longLink, 'GNU long link name', offset);
  if (!h.linknameUtf8) throw notUtf8(`link name of "${path}"`, offset);
  return h.linkname;
}

function checkedName(bytes: Buffer, what: string, offset: number): string {
  if (!isUtf8(bytes)) throw notUtf8(what, offset);
  const s = bytes.toString('utf8');
  if (s.includes('\0')) {
    throw new ShibafuError('TAR_CORRUPT', `Cannot read tar entry at byte ${offset}: its ${what} contains a NUL byte`, {
      details: { offset },
    });
  }
  return s;
}

function notUtf8(what: string, offset: number): ShibafuError {
  return new ShibafuError('TAR_UNSUPPORTED', `Cannot read tar entry at byte ${offset}: its ${what} is not valid UTF-8`, {
    details: { offset },
    hint: 'shibafu stores names as UTF-8; recreate the archive from a tree with UTF-8 names.',
  });
}

function applyPax(e: TarEntry, pax: PendingExtensions, offset: number): void {
  let v = paxValue(pax, 'uid');
  if (v !== undefined) e.uid = paxInteger(v, 'uid', offset);
  v = paxValue(pax, 'gid');
  if (v !== undefined) e.gid = paxInteger(v, 'gid', offset);
  v = paxValue(pax, 'uname');
  if (v !== undefined) e.uname = v.toString('utf8');
  v = paxValue(pax, 'gname');
  if (v !== undefined) e.gname = v.toString('utf8');
  v = paxValue(pax, 'mtime');
  if (v !== undefined) e.mtime = paxTime(v, 'mtime', offset);
  v = paxValue(pax, 'atime');
  if (v !== undefined) e.atime = paxTime(v, 'atime', offset);
  // Precedence, lowest first: global LIBARCHIVE, global SCHILY, local LIBARCHIVE, local SCHILY.
  for (const map of [pax.global, pax.local]) {
    if (map === null) continue;
    for (const [key, value] of map) {
      if (key.startsWith('LIBARCHIVE.xattr.')) e.xattrs.set(percentDecode(key.slice(17)), Buffer.from(value.toString('latin1'), 'base64'));
    }
    for (const [key, value] of map) {
      if (key.startsWith('SCHILY.xattr.')) e.xattrs.set(key.slice(13), value);
    }
  }
}

/** Decimal PAX integers (uid, gid, size). */
export function paxInteger(v: Buffer, key: string, offset: number): number {
  const s = v.toString('latin1');
  const n = Number(s);
  if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(n)) {
    throw new ShibafuError('TAR_CORRUPT', `Cannot read PAX record "${key}" before byte ${offset}: "${s}" is not an integer`, {
      details: { offset, key },
    });
  }
  return n;
}

/** PAX times are decimal seconds with an optional fraction, possibly negative: "-1.25". */
function paxTime(v: Buffer, key: string, offset: number): TarTime {
  const s = v.toString('latin1');
  const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(s);
  const whole = m === null ? NaN : Number(m[2]);
  if (m === null || !Number.isSafeInteger(whole)) {
    throw new ShibafuError('TAR_CORRUPT', `Cannot read PAX record "${key}" before byte ${offset}: "${s}" is not a time`, {
      details: { offset, key },
    });
  }
  const frac = Number(((m[3] ?? '') + '000000000').slice(0, 9));
  if (m[1] === '') return { sec: whole, nsec: frac };
  return frac === 0 ? { sec: -whole, nsec: 0 } : { sec: -whole - 1, nsec: 1e9 - frac };
}

/** libarchive percent-encodes xattr names in its PAX keywords. */
function percentDecode(name: string): string {
  if (!name.includes('%')) return name;
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const hex = c === 0x25 ? name.slice(i + 1, i + 3) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      const ch = String.fromCodePoint(name.codePointAt(i)!);
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      i += ch.length - 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
