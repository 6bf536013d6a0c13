/**
 * One contract, two backends (STYLE.md): the behaviour every Mounter must show, run against the
 * fake (src/overlay/fake-mounter.test.ts, no root) and the kernel (test/overlay-mount.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Mount, Mounter, MountTable } from '../src/snapshots/mount.js';

export interface MounterContractEnv {
  makeMounter: () => Mounter & MountTable;
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
  const roStack = (): Mount[] => [{ type: 'overlay', lowers: [env.makeDir('lower'), env.makeDir('lower')] }];

  test(`Mounter contract (${name}): mount, then unmount is true once and false after`, { skip: env.skip ?? false }, () => {
    const mounter = env.makeMounter();
    const target = env.makeDir('target');
    mounter.mount(roStack(), target);
    assert.equal(mounter.isMounted(target), true);
    assert.equal(mounter.unmount(target), true);
    assert.equal(mounter.isMounted(target), false);
    assert.equal(mounter.unmount(target), false);
  });

  test(`Mounter contract (${name}): unmounting where nothing was mounted is false`, { skip: env.skip ?? false }, () => {
    assert.equal(env.makeMounter().unmount(env.makeDir('never')), false);
  });

  test(`Mounter contract (${name}): mounts on one target stack; each unmount removes the top one`, { skip: env.skip ?? false }, () => {
    const mounter = env.makeMounter();
    const target = env.makeDir('target');
    mounter.mount(roStack(), target);
    mounter.mount(roStack(), target);
    assert.equal(mounter.unmount(target), true);
    assert.equal(mounter.unmount(target), true);
    assert.equal(mounter.unmount(target), false);
  });

  test(`Mounter contract (${name}): a writable mount unmounts the same way`, { skip: env.skip ?? false }, () => {
    const mounter = env.makeMounter();
    const upper = env.makeDir('upper');
    const target = env.makeDir('target');
    mounter.mount([{ type: 'overlay', lowers: [env.makeDir('lower')], upper, work: env.makeDir('work') }], target);
    assert.equal(mounter.isInUse(upper), true, 'the upper of a live mount is in use');
    assert.equal(mounter.unmount(target), true);
    assert.equal(mounter.isInUse(upper), false);
    assert.equal(mounter.unmount(target), false);
  });
}
