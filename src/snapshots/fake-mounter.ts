/**
 * A Mounter and MountTable without root, for the test driver: a bind "mount" makes the target a
 * symlink to the source, so writes through the target land in the snapshot as a bind mount's
 * would. Only bind mounts (the naive driver's) can be faked this way; anything else is refused.
 */
import * as fs from 'node:fs';
import { ShibafuError } from '../errors.js';
import type { Mount, Mounter, MountTable } from './mount.js';

export interface FakeMounter extends Mounter, MountTable {
  /** What is "mounted" now: target -> source. */
  readonly mounted: ReadonlyMap<string, string>;
}

/**
 * @example
 * const m = createFakeBindMounter(); m.mount([{ type: 'bind', source, readonly: false }], target);
 */
export function createFakeBindMounter(): FakeMounter {
  const mounted = new Map<string, string>();
  return {
    mounted,
    mount(mounts: readonly Mount[], target: string) {
      const [m] = mounts;
      if (mounts.length !== 1 || m === undefined || m.type !== 'bind') {
        throw new ShibafuError('UNSUPPORTED', `Cannot fake ${mounts.map((x) => x.type).join('+')} mounts: only one bind mount can be faked`);
      }
      if (mounted.has(target)) throw new ShibafuError('ALREADY_MOUNTED', `Cannot mount on "${target}": already mounted`);
      fs.rmdirSync(target);
      fs.symlinkSync(m.source, target);
      mounted.set(target, m.source);
    },
    unmount(target: string) {
      if (!mounted.has(target)) return false;
      fs.unlinkSync(target);
      fs.mkdirSync(target);
      mounted.delete(target);
      return true;
    },
    isMounted: (target: string) => mounted.has(target),
    isInUse: (dir: string) => [...mounted.values()].includes(dir),
  };
}
