/**
 * A Mounter that records what it was asked and keeps a table of "mounted" targets, for unit
 * tests that run without root. It behaves like the kernel where tests can tell: mounts stack
 * on one target (the last one is visible) and unmounting an unmounted target returns false.
 */
import type { Mounter } from './mounter.js';
import type { OverlayMountPlan } from './plan-overlay-mount.js';

/** One call the fake received, in order. */
export type FakeMountCall =
  | { op: 'mount'; plan: OverlayMountPlan }
  | { op: 'unmount'; target: string; result: boolean };

export interface FakeMounter extends Mounter {
  readonly calls: FakeMountCall[];
  /** The visible plan at `target`, if any. */
  mountedAt(target: string): OverlayMountPlan | undefined;
  /** Targets with something mounted, in mount order. */
  targets(): string[];
}

/**
 * A fake Mounter. `fail` may return an error to throw instead of mounting a plan (to test
 * the caller's clean-up on failure).
 *
 * @example
 * const mounter = createFakeMounter();
 * await store.run(..., { mounter });
 * assert.deepEqual(mounter.calls.map((c) => c.op), ['mount', 'unmount']);
 */
export function createFakeMounter(options: { fail?: (plan: OverlayMountPlan) => Error | undefined } = {}): FakeMounter {
  const calls: FakeMountCall[] = [];
  const stacks = new Map<string, OverlayMountPlan[]>();
  return {
    calls,
    mount(plan) {
      const err = options.fail?.(plan);
      if (err !== undefined) throw err;
      calls.push({ op: 'mount', plan });
      stacks.set(plan.target, [...(stacks.get(plan.target) ?? []), plan]);
    },
    unmount(target) {
      const stack = stacks.get(target) ?? [];
      const result = stack.length > 0;
      if (stack.length <= 1) stacks.delete(target);
      else stacks.set(target, stack.slice(0, -1));
      calls.push({ op: 'unmount', target, result });
      return result;
    },
    mountedAt(target) {
      return stacks.get(target)?.at(-1);
    },
    targets() {
      return [...stacks.keys()];
    },
  };
}
