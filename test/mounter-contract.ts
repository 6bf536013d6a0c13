/**
 * One contract, two backends (STYLE.md): the behaviour every Mounter must show, run against the
 * fake (src/overlay/fake-mounter.test.ts, no root) and the kernel (test/overlay-mount.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Mounter } from '../src/overlay/mounter.js';
import { planOverlayMount } from '../src/overlay/plan-overlay-mount.js';

export interface MounterContractEnv {
  makeMounter: () => Mounter;
  /** A fresh empty directory (for the kernel) or a fresh unique path (for the fake). */
  makeDir: (role: string) => string;
  skip?: string | false;
}

/**
 * Registers the contract tests for one backend.
 *
 * @example
 * mounterContract('fake', { makeMounter: () => createFakeMounter(), makeDir: (r) => `/fake/${r}` });
 */
export function mounterContract(name: string, env: MounterContractEnv): void {
  const roStack = () => planOverlayMount({ lowers: [env.makeDir('lower'), env.makeDir('lower')], target: env.makeDir('target') });

  test(`Mounter contract (${name}): mount, then unmount is true once and false after`, { skip: env.skip ?? false }, () => {
    const mounter = env.makeMounter();
    const plan = roStack();
    mounter.mount(plan);
    assert.equal(mounter.unmount(plan.target), true);
    assert.equal(mounter.unmount(plan.target), false);
  });

  test(`Mounter contract (${name}): unmounting where nothing was mounted is false`, { skip: env.skip ?? false }, () => {
    assert.equal(env.makeMounter().unmount(env.makeDir('never')), false);
  });

  test(`Mounter contract (${name}): mounts on one target stack; each unmount removes the top one`, { skip: env.skip ?? false }, () => {
    const mounter = env.makeMounter();
    const first = roStack();
    const second = planOverlayMount({ lowers: [env.makeDir('lower'), env.makeDir('lower')], target: first.target });
    mounter.mount(first);
    mounter.mount(second);
    assert.equal(mounter.unmount(first.target), true);
    assert.equal(mounter.unmount(first.target), true);
    assert.equal(mounter.unmount(first.target), false);
  });

  test(`Mounter contract (${name}): a writable mount unmounts the same way`, { skip: env.skip ?? false }, () => {
    const mounter = env.makeMounter();
    const plan = planOverlayMount({ lowers: [env.makeDir('lower')], upper: env.makeDir('upper'), work: env.makeDir('work'), target: env.makeDir('target') });
    mounter.mount(plan);
    assert.equal(mounter.unmount(plan.target), true);
    assert.equal(mounter.unmount(plan.target), false);
  });
}
