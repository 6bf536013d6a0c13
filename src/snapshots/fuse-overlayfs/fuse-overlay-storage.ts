/**
 * The fuse-overlayfs driver's storage: the overlay driver's directories and format
 * (src/snapshots/overlay/overlay-storage.ts), mounted by the `fuse-overlayfs` program instead of
 * the kernel, as containers/storage does with a mount program. Two differences only: the mounts
 * name the program, and a commit settles what the program leaves in an upper that the kernel's
 * format has not (settle-fuse-upper.ts), so a committed snapshot is the same changeset either way.
 */
import { posix } from 'node:path';
import { ShibafuError } from '../../errors.js';
import { FUSE_OVERLAY_HINT, FUSE_OVERLAY_MAX_OPTIONS, probeFuseOverlay } from '../../sys/fuse-overlayfs.js';
import type { Mount } from '../mount.js';
import { OverlayDirs, type OverlayPaths } from '../overlay/overlay-storage.js';
import type { SnapshotStorage, StoredSnapshot } from '../snapshot-storage.js';
import type { DriverCapabilities } from '../snapshotter.js';
import { settleFuseUpper } from './settle-fuse-upper.js';

/**
 * The deepest stack whose `-o` string fits in one execve argument (FUSE_OVERLAY_MAX_OPTIONS), for
 * lowers `<root>/<id>` with ids of up to 10 digits, an upper beside them and a work dir under `work/`.
 * fuse-overlayfs itself has no layer limit (layers are a linked list, main.c read_dirs); the one
 * argument is the limit. Measured here (fuse-overlayfs 1.10, 35-byte lower paths): 3640 lowers
 * mount and 3700 fail with E2BIG. Deep stacks are slow to mount, though, as every layer's root is
 * read at mount time: 128 lowers 0.10 s, 500 1.3 s, 1000 3.3 s, 2000 14 s, 3640 46 s (one file per
 * layer root, 2 shared cores). For /var/lib/shibafu/snapshots the formula gives 3446.
 *
 * @example
 * fuseOverlayMaxDepth('/var/lib/shibafu/snapshots') // 3446
 */
export function fuseOverlayMaxDepth(root: string): number {
  const dir = Buffer.byteLength(posix.resolve('/', root)) + '/4294967295'.length;
  const fixed = 'lowerdir=,upperdir=,workdir='.length + 2 * (dir + '/work'.length + 2);
  return Math.floor((FUSE_OVERLAY_MAX_OPTIONS - fixed) / (dir + 1));
}

/** The capabilities of a fuse-overlayfs store at `root`. */
export function fuseOverlayCapabilities(root: string): DriverCapabilities {
  return { format: 'overlay', stacksChains: true, maxDepth: fuseOverlayMaxDepth(root), xattrs: true, readonlyViews: true };
}

/**
 * Opens the storage; UNSUPPORTED (with the package and `modprobe fuse` in the hint) when the
 * program or /dev/fuse is missing. `program` is an absolute path or a name looked up in the
 * standard PATH once, here.
 *
 * @example
 * openSnapshotter(ctx, fuseOverlayStorage({ root: '/var/lib/shibafu/snapshots' }));
 */
export function fuseOverlayStorage(args: { readonly root: string; readonly program?: string }): SnapshotStorage {
  const probe = probeFuseOverlay({ ...(args.program === undefined ? {} : { program: args.program }), version: false });
  if (probe.program === null || probe.reason !== null) {
    throw new ShibafuError('UNSUPPORTED', `Cannot open the fuse-overlayfs driver: ${probe.reason ?? 'no program'}`, {
      hint: FUSE_OVERLAY_HINT, details: { ...probe },
    });
  }
  const program = probe.program;
  const root = args.root;
  return new FuseOverlayDirs(root, (p, s, lowers, volatile) => {
    const dirs = lowers.map((l) => p.fsDir(l.id));
    if (s.kind === 'view') return [{ type: 'fuse-overlayfs', program, lowers: dirs }];
    // Nothing under it: fuse-overlayfs needs a lower, and a bind of the upper is the same tree.
    if (dirs.length === 0) return [{ type: 'bind', source: p.fsDir(s.id), readonly: false }];
    return [{ type: 'fuse-overlayfs', program, lowers: dirs, upper: p.fsDir(s.id), work: p.workDir(s.id), ...(volatile ? { volatile: true } : {}) }];
  });
}

class FuseOverlayDirs extends OverlayDirs {
  constructor(root: string, mounts: (paths: OverlayPaths, s: StoredSnapshot, lowers: readonly StoredSnapshot[], volatile: boolean) => Mount[]) {
    super(root, 'fuse-overlayfs', fuseOverlayCapabilities(root), mounts);
  }

  settle(id: number): void {
    settleFuseUpper(this.fsDir(id));
  }

  override seal(id: number): void {
    settleFuseUpper(this.fsDir(id));
    super.seal(id);
  }
}
