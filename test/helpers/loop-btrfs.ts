/**
 * A btrfs file system on a loop device for the tests and benchmarks that need one: a sparse image
 * file, `mkfs.btrfs`, a loop mount. These setup commands are fixtures, not the product's work, so
 * they shell out. `teardown()` unmounts whatever is left under it, detaches the loop device and
 * deletes the image and its directory; it is idempotent, for after() hooks and `finally` blocks.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why a btrfs loop fs cannot be made here, or false. */
export const needsBtrfs: string | false =
  process.getuid?.() !== 0 ? 'needs root (loop mounts); CI runs this suite as root'
    : spawnSync('mkfs.btrfs', ['--version']).status !== 0 ? 'mkfs.btrfs missing (apt-get install btrfs-progs)'
      : false;

export interface LoopBtrfs {
  /** Where the file system is mounted. */
  readonly mnt: string;
  teardown(): void;
}

/**
 * @example
 * const fsys = makeLoopBtrfs('256M'); try { ... } finally { fsys.teardown(); }
 */
export function makeLoopBtrfs(size = '256M', parent = tmpdir()): LoopBtrfs {
  const dir = fs.mkdtempSync(join(parent, 'shibafu-btrfs-'));
  const image = join(dir, 'btrfs.img');
  const mnt = join(dir, 'mnt');
  let done = false;
  const teardown = (): void => {
    if (done) return;
    done = true;
    for (const point of mountsUnder(mnt).reverse()) {
      if (spawnSync('umount', [point]).status !== 0) spawnSync('umount', ['-l', point]);
    }
    // The loop device goes with the last unmount (mount -o loop sets autoclear); detach it anyway
    // when a failed mount left it attached.
    const loops = spawnSync('losetup', ['-j', image], { encoding: 'utf8' }).stdout ?? '';
    for (const line of loops.split('\n')) {
      const dev = line.split(':')[0];
      if (dev !== undefined && dev.startsWith('/dev/loop')) spawnSync('losetup', ['-d', dev]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    fs.mkdirSync(mnt);
    execFileSync('truncate', ['-s', size, image]);
    execFileSync('mkfs.btrfs', ['-q', image]);
    execFileSync('mount', ['-o', 'loop', image, mnt]);
  } catch (err) {
    teardown();
    throw err;
  }
  return { mnt, teardown };
}

/** Mount points at or under `dir`, in mount order. */
function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === dir || point.startsWith(`${dir}/`)) out.push(point);
  }
  return out;
}
