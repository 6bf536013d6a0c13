import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShibafuError } from '../errors.js';
import { mounterContract } from '../../test/mounter-contract.js';
import type { Mount } from '../snapshots/mount.js';
import { createFakeMounter } from './fake-mounter.js';

mounterContract('fake', {
  makeMounter: () => createFakeMounter(),
  makeDir: (() => { let n = 0; return (role: string) => `/fake/${role}-${n++}`; })(),
});

test('the fake records calls in order, and which dirs its mounts use', () => {
  const mounter = createFakeMounter();
  const mounts: Mount[] = [{ type: 'overlay', lowers: ['/s/a', '/s/b'], upper: '/s/u', work: '/s/w' }];
  mounter.mount(mounts, '/m');
  assert.equal(mounter.mountedAt('/m'), mounts);
  assert.deepEqual(mounter.targets(), ['/m']);
  assert.equal(mounter.isInUse('/s/u'), true);
  assert.equal(mounter.isInUse('/s/a'), true);
  assert.equal(mounter.isInUse('/s/other'), false);
  assert.equal(mounter.unmount('/m'), true);
  assert.equal(mounter.unmount('/m'), false);
  assert.deepEqual(mounter.calls, [
    { op: 'mount', mounts, target: '/m' },
    { op: 'unmount', target: '/m', result: true },
    { op: 'unmount', target: '/m', result: false },
  ]);
  assert.deepEqual(mounter.targets(), []);
  assert.equal(mounter.isInUse('/s/u'), false);
});

test('the fake can be told to fail a mount, and then records nothing', () => {
  const mounter = createFakeMounter({ fail: (_m, target) => (target === '/bad' ? new ShibafuError('TARGET_BUSY', 'busy') : undefined) });
  assert.throws(() => mounter.mount([{ type: 'overlay', lowers: ['/s/a', '/s/b'] }], '/bad'), { code: 'TARGET_BUSY' });
  assert.deepEqual(mounter.calls, []);
  assert.equal(mounter.mountedAt('/bad'), undefined);
});
