/**
 * Writing a GNU sparse file (src/tar/sparse-map.ts) with its holes: the new, empty file is
 * truncated to its real size, and only the segments' bytes are written, each at its offset. What
 * is never written stays a hole (no blocks, reads as zeros), as GNU tar extracts it.
 */
import * as fs from 'node:fs';
import { ShibafuError, errnoCode, fromSystemError } from '../errors.js';
import { placeSparse, type SparseCursor, type SparseMap } from './sparse-map.js';

/** A sparse file being written: its map and where the next stored byte goes. */
export interface SparseWrite {
  readonly map: SparseMap;
  readonly cursor: SparseCursor;
}

/**
 * Sizes the new file `fd` (at `key`) to the map's real size; returns the state its data is written with.
 *
 * @example
 * const sw = startSparseFile(fd, op.map, 'var/lib/disk.img');
 */
export function startSparseFile(fd: number, map: SparseMap, key: string): SparseWrite {
  try {
    fs.ftruncateSync(fd, map.realSize);
  } catch (err) {
    // Past the file system's largest file (16 TiB on ext4 with 4 KiB blocks).
    if (errnoCode(err) === 'EFBIG' || errnoCode(err) === 'EINVAL') {
      throw new ShibafuError('LIMIT_EXCEEDED', `Cannot import sparse file "${key}": its size of ${map.realSize} bytes is more than the file system takes`, { cause: err });
    }
    throw fromSystemError(err, `size sparse file "${key}"`);
  }
  return { map, cursor: { index: 0, written: 0 } };
}

/**
 * Writes the next bytes of a file entry: at their offsets for a sparse file (`sw`), else appended.
 * Both appliers write every file's content through here.
 *
 * @example
 * writeFileData(fd, sparse, chunk, path); // sparse: the file's SparseWrite, or null
 */
export function writeFileData(fd: number, sw: SparseWrite | null, chunk: Buffer, path: string): void {
  try {
    if (sw === null) {
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
      return;
    }
    placeSparse(sw.map, sw.cursor, chunk.length, (from, n, position) => {
      let off = 0;
      while (off < n) off += fs.writeSync(fd, chunk, from + off, n - off, position + off);
    });
  } catch (err) {
    throw fromSystemError(err, `write "${path}"`);
  }
}
