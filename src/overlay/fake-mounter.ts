/**
 * A Mounter and MountTable that need no root, for unit tests: they record what they were asked
 * and keep a table of "mounted" targets, and behave like the kernel where tests can tell (mounts
 * stack on one target and the last one is visible; unmounting an unmounted target returns false).
 * With `bindAsSymlink`, a bind "mount" makes the target a symlink to the source, so writes
 * through the target land in the source as a bind mount's would (the test snapshot driver's mounts).
 */
import * as fs from 'node:fs';
import type { Mount, Mounter, MountTable } from '../snapshots/mount.js';

/** One call the fake received, in order. */
export type FakeMountCall =
  | { readonly op: 'mount'; readonly mounts: readonly Mount[]; readonly target: string }
  | { readonly op: 'unmount'; readonly target: string; readonly result: boolean };

export interface FakeMounter extends Mounter, MountTable {
  readonly calls: FakeMountCall[];
  /** The visible mounts at `target`, if any. */
  mountedAt(target: string): readonly Mount[] | undefined;
  /** Targets with something mounted, in mount order. */
  targets(): string[];
}

export interface FakeMounterOptions {
  /** An error to throw instead of mounting (to test the caller's clean-up on failure). */
  readonly fail?: (mounts: readonly Mount[], target: string) => Error | undefined;
  readonly bindAsSymlink?: boolean;
  readonly overlayApi?: 'new' | 'legacy';
}

/**
 * @example
 * const mounter = createFakeMounter();
 * mounter.mount([{ type: 'overlay', lowers: ['/l/a', '/l/b'] }], '/m');
 * assert.deepEqual(mounter.calls.map((c) => c.op), ['mount']);
 */
export function createFakeMounter(options: FakeMounterOptions = {}): FakeMounter {
  const calls: FakeMountCall[] = [];
  const stacks = new Map<string, (readonly Mount[])[]>();
  const symlinked = (target: string): boolean => options.bindAsSymlink === true && (stacks.get(target) ?? []).length > 0;
  return {
    calls,
    overlayApi: () => options.overlayApi ?? 'new',
    mount(mounts, target) {
      const err = options.fail?.(mounts, target);
      if (err !== undefined) throw err;
      const [m] = mounts;
      if (options.bindAsSymlink === true && m?.type === 'bind') {
        fs.rmdirSync(target);
        fs.symlinkSync(m.source, target);
      }
      calls.push({ op: 'mount', mounts, target });
      stacks.set(target, [...(stacks.get(target) ?? []), mounts]);
    },
    unmount(target) {
      const stack = stacks.get(target) ?? [];
      const result = stack.length > 0;
      if (result && symlinked(target)) {
        fs.unlinkSync(target);
        fs.mkdirSync(target);
      }
      if (stack.length <= 1) stacks.delete(target);
      else stacks.set(target, stack.slice(0, -1));
      calls.push({ op: 'unmount', target, result });
      return result;
    },
    isMounted: (target) => stacks.has(target),
    isInUse: (dir) => [...stacks.values()].some((stack) => stack.some((mounts) => mounts.some((m) => usesDir(m, dir)))),
    mountedAt: (target) => stacks.get(target)?.at(-1),
    targets: () => [...stacks.keys()],
  };
}

function usesDir(m: Mount, dir: string): boolean {
  if (m.type === 'bind') return m.source === dir;
  return m.lowers.includes(dir) || m.upper === dir || m.work === dir;
}
