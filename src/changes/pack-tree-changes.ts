/**
 * Reads a "dir"-format changeset (src/format/dir-format.ts): given the parent layer's full tree
 * and the child's, the OCI layer tar that turns one into the other. The differences are the ones
 * `layer diff-create` builds its layers from (tree-diff.ts, planned by diff-plan.ts: whiteouts for
 * deletions, an opaque marker for a directory of which no old entry survives), and the tar follows
 * the deterministic packer's rules (tar/tar-packer.ts, docs/on-disk-format.md): this stream is
 * byte for byte the export of the overlay-format layer `layer diff-create` would store for the
 * same two trees. Whiteouts carry no owner or time (NORMALIZED_WHITEOUT), like a diff layer's.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { ShibafuError, fromSystemError } from '../errors.js';
import { devMajor, devMinor } from '../sys/mknod.js';
import { isResolveRefusal, openBeneath } from '../sys/openat2.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from '../tar/path-safety.js';
import { flushSink, newSink, putEnd, putEntryHeader, putFileData, takeReady, type ChunkSink, type PackEntry } from '../tar/tar-pack-writer.js';
import type { PackStats } from '../tar/tar-packer.js';
import type { Change } from './change.js';
import { planDiffLayer } from './diff-plan.js';
import { NORMALIZED_WHITEOUT } from './node-writer.js';
import { diffTrees } from './tree-diff.js';
import { nodeTreeFs, publicXattrs, wholeSeconds, type NodeInfo, type TreeFs, type XattrSource } from './tree-fs.js';
import { dirView, type TreeView } from './tree-view.js';

export interface PackTreeChangesOptions {
  readonly xattrs: XattrSource;
  readonly signal?: AbortSignal;
  /** Size of the yielded chunks (default 1 MiB); the last one is shorter. */
  readonly chunkSize?: number;
}

/** The totals of the tar, and the changes it carries (what `layer diff` would list). */
export interface PackTreeChangesResult extends PackStats {
  readonly changes: Change[];
}

interface Out {
  readonly sink: ChunkSink;
  readonly stats: PackStats;
}

/**
 * Streams the OCI layer tar of the changes from the full tree `parentRoot` to `childRoot`.
 *
 * @example
 * const hash = createHash('sha256');
 * for (const chunk of packTreeChangesSync(snapshotOfParent, snapshotOfChild, { xattrs: ports })) hash.update(chunk);
 */
export function* packTreeChangesSync(parentRoot: string, childRoot: string, opts: PackTreeChangesOptions): Generator<Buffer, PackTreeChangesResult, undefined> {
  const fs = nodeTreeFs(opts.xattrs);
  const child = dirView(fs, childRoot);
  const diff = diffTrees(fs, dirView(fs, parentRoot), child, opts.signal !== undefined ? { signal: opts.signal } : {});
  const out: Out = { sink: newSink(opts.chunkSize ?? 1024 * 1024), stats: { entries: 0, bytes: 0 } };
  const report = (chunk: Buffer): Buffer => {
    opts.signal?.throwIfAborted();
    out.stats.bytes += chunk.length;
    return chunk;
  };
  let rootFd = -1;
  try {
    rootFd = openSync(childRoot, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    throw fromSystemError(err, `pack the changes to "${childRoot}"`);
  }
  try {
    for (const op of planDiffLayer(diff)) {
      const slash = op.path.lastIndexOf('/');
      const dirRel = op.path.slice(0, slash + 1);
      const name = op.path.slice(slash + 1);
      if (op.op === 'whiteout') {
        const { uid, gid, mtimeNs } = NORMALIZED_WHITEOUT;
        emit(out, marker(`${dirRel}${WHITEOUT_PREFIX}${name}`, uid, gid, mtimeNs));
        continue;
      }
      if (name.startsWith(WHITEOUT_PREFIX)) {
        throw new ShibafuError('TAR_UNSUPPORTED', `Cannot pack "${op.path}": names starting with ".wh." mean whiteouts in OCI layers`, {
          details: { path: op.path },
        });
      }
      const node = lookup(child, op.path);
      if (op.op === 'link') {
        emit(out, { ...header(op.path, '1', node.info, []), linkpath: op.target });
      } else if (op.op === 'dir') {
        emit(out, header(`${op.path}/`, '5', node.info, xattrsOf(fs, node.path)));
        if (op.opaque) emit(out, marker(`${op.path}/${OPAQUE_MARKER}`, node.info.uid, node.info.gid, node.info.mtimeNs));
      } else if (node.info.kind === 'file') {
        yield* emitFile(out, rootFd, op.path, node.info, xattrsOf(fs, node.path));
      } else if (node.info.kind !== 'socket') {
        emitSpecial(out, fs, op.path, node);
      }
      for (const chunk of takeReady(out.sink)) yield report(chunk);
    }
  } finally {
    closeSync(rootFd);
  }
  putEnd(out.sink);
  flushSink(out.sink);
  for (const chunk of takeReady(out.sink)) yield report(chunk);
  return { ...out.stats, changes: diff.changes };
}

function lookup(view: TreeView, rel: string): { path: string; info: NodeInfo } {
  const node = view.lookup(rel);
  if (node === null) {
    throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot pack "/${rel}": it vanished from the child tree while it was read`, {
      hint: 'Trees must not change while their changes are packed.',
    });
  }
  return node;
}

function* emitFile(out: Out, rootFd: number, rel: string, info: NodeInfo, xattrs: PackEntry['xattrs']): Generator<Buffer, void, undefined> {
  emit(out, { ...header(rel, '0', info, xattrs), size: info.size });
  if (info.size === 0) return;
  // As the packer does: resolved beneath the root fd, following no symlink in any component.
  let fd: number;
  try {
    fd = openBeneath(rootFd, rel);
  } catch (err) {
    if (isResolveRefusal(err)) {
      throw new ShibafuError('LAYER_TAMPERED', `Cannot pack "/${rel}": a directory on its path is now a symlink (the tree changed while it was read)`, {
        details: { path: `/${rel}` },
        cause: err,
      });
    }
    throw fromSystemError(err, `pack "${rel}"`);
  }
  try {
    yield* putFileData(out.sink, fd, info.size, rel);
  } finally {
    closeSync(fd);
  }
}

function emitSpecial(out: Out, fs: TreeFs, rel: string, node: { path: string; info: NodeInfo }): void {
  const xattrs = xattrsOf(fs, node.path);
  const { info } = node;
  if (info.kind === 'symlink') {
    emit(out, { ...header(rel, '2', info, xattrs), linkpath: fs.readlink(node.path) });
  } else if (info.kind === 'fifo') {
    emit(out, header(rel, '6', info, xattrs));
  } else {
    emit(out, { ...header(rel, info.kind === 'char' ? '3' : '4', info, xattrs), devmajor: devMajor(info.rdev), devminor: devMinor(info.rdev) });
  }
}

/** The public xattrs in the packer's order: by the bytes of their names. */
function xattrsOf(fs: TreeFs, path: string): PackEntry['xattrs'] {
  return publicXattrs(fs, path).sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
}

function header(path: string, typeflag: string, info: NodeInfo, xattrs: PackEntry['xattrs']): PackEntry {
  return {
    path, typeflag, mode: info.mode, uid: info.uid, gid: info.gid, mtime: Number(wholeSeconds(info.mtimeNs)),
    size: 0, linkpath: '', devmajor: 0, devminor: 0, xattrs,
  };
}

/** Whiteout and opaque markers: empty files, mode 0 (tar-packer.ts). */
function marker(path: string, uid: number, gid: number, mtimeNs: bigint): PackEntry {
  return { path, typeflag: '0', mode: 0, uid, gid, mtime: Number(wholeSeconds(mtimeNs)), size: 0, linkpath: '', devmajor: 0, devminor: 0, xattrs: [] };
}

function emit(out: Out, e: PackEntry): void {
  putEntryHeader(out.sink, e);
  out.stats.entries++;
}
