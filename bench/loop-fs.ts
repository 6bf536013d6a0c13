/**
 * A journaled ext4 in a loop device for the benchmarks (REFERENCE.md, "two traps"): `/` here is ext4
 * without a journal, where the kernel skips recently freed inodes (`recently_deleted()` in
 * fs/ext4/ialloc.c applies only when there is no journal), so re-creating many files after many
 * were deleted is 10-20x slower. Every store root and every tar target of a run lives here.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run } from './measure.js';

export interface LoopFsOptions {
  /** Size of the sparse image (truncate -s). */
  readonly size: string;
  /**
   * Bytes per inode for mkfs.ext4 -i. 8192 (twice the default density, 1.5 M inodes in 12G):
   * one import group (the warm-up and 5 runs of tar and of shibafu on the 50,000-file tar) holds
   * about 0.65 M inodes until the group ends.
   */
  readonly bytesPerInode: number;
}

export const LOOP_FS_DEFAULTS: LoopFsOptions = { size: '12G', bytesPerInode: 8192 };

export class LoopFs {
  readonly image: string;
  readonly mountpoint: string;
  readonly mkfsArgs: readonly string[];
  #mounted = false;

  private constructor(image: string, mountpoint: string, mkfsArgs: readonly string[]) {
    this.image = image;
    this.mountpoint = mountpoint;
    this.mkfsArgs = mkfsArgs;
  }

  /**
   * Creates, formats and mounts the image under `baseDir` (which must exist).
   *
   * @example
   * const lfs = LoopFs.create('/tmp/shibafu-bench-x'); try { ... } finally { lfs.teardown(); }
   */
  static create(baseDir: string, options: LoopFsOptions = LOOP_FS_DEFAULTS): LoopFs {
    const image = join(baseDir, 'fs.img');
    const mountpoint = join(baseDir, 'mnt');
    // Inode tables and journal initialised now, not by the ext4lazyinit thread in the background
    // while the benchmarks run (it writes the tables out over minutes after the mount).
    const mkfsArgs = ['-q', '-F', '-i', String(options.bytesPerInode), '-E', 'lazy_itable_init=0,lazy_journal_init=0'];
    const lfs = new LoopFs(image, mountpoint, mkfsArgs);
    try {
      fs.mkdirSync(mountpoint);
      run('truncate', ['-s', options.size, image]);
      run('mkfs.ext4', [...mkfsArgs, image]);
      run('mount', ['-o', 'loop', image, mountpoint]);
      lfs.#mounted = true;
      run('sync', []);
    } catch (err) {
      lfs.teardown();
      throw err;
    }
    return lfs;
  }

  /** A fresh directory on the loop fs (recursive mkdir; fails if it exists, so nothing is reused). */
  fresh(...parts: string[]): string {
    const dir = join(this.mountpoint, ...parts);
    fs.mkdirSync(join(dir, '..'), { recursive: true });
    fs.mkdirSync(dir);
    return dir;
  }

  /** `df` of the loop fs: bytes and inodes used/available. */
  usage(): { usedBytes: number; availBytes: number; usedInodes: number; availInodes: number } {
    const st = fs.statfsSync(this.mountpoint);
    return {
      usedBytes: (st.blocks - st.bfree) * st.bsize,
      availBytes: st.bavail * st.bsize,
      usedInodes: st.files - st.ffree,
      availInodes: st.ffree,
    };
  }

  /**
   * Unmounts everything under the mount point (overlays the benchmarks left, podman's private
   * bind mounts), then the loop fs itself, detaches its loop device and deletes the image.
   * Synchronous and idempotent: signal handlers and `finally` blocks both call it.
   */
  teardown(): void {
    for (const m of mountsUnder(this.mountpoint).reverse()) umount(m);
    if (this.#mounted || mountsUnder(this.mountpoint, true).length > 0) umount(this.mountpoint);
    this.#mounted = false;
    const loops = spawnSync('losetup', ['-j', this.image], { encoding: 'utf8' }).stdout ?? '';
    for (const line of loops.split('\n')) {
      const dev = line.split(':')[0];
      if (dev !== undefined && dev.startsWith('/dev/loop')) spawnSync('losetup', ['-d', dev], { stdio: 'ignore' });
    }
    fs.rmSync(this.image, { force: true });
  }
}

/** Mount points strictly under `dir` (or `dir` itself with `self`), in mount order. */
function mountsUnder(dir: string, self = false): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (self ? point === dir : point.startsWith(`${dir}/`)) out.push(point);
  }
  return out;
}

function umount(point: string): void {
  if (spawnSync('umount', [point], { stdio: 'ignore' }).status !== 0) {
    spawnSync('umount', ['-l', point], { stdio: 'ignore' });
  }
}
