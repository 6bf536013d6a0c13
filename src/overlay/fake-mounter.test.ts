import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShibafuError } from '../errors.js';
import { mounterContract } from '../../test/mounter-contract.js';
import { createFakeMounter } from './fake-mounter.js';
import { planOverlayMount } from './plan-overlay-mount.js';

mounterContract('fake', {
  makeMounter: () => createFakeMounter(),
  makeDir: (() => { let n = 0; return (role: string) => `/fake/${role}-${n++}`; })(),
});

test('the fake records calls in order', () => {
  const mounter = createFakeMounter();
  const plan = planOverlayMount({ lowers: ['/s/a', '/s/b'], target: '/m' });
  mounter.mount(plan);
  assert.equal(mounter.mountedAt('/m'), plan);
  assert.deepEqual(mounter.targets(), ['/m']);
  assert.equal(mounter.unmount('/m'), true);
  assert.equal(mounter.unmount('/m'), false);
  assert.deepEqual(mounter.calls, [
    { op: 'mount', plan },
    { op: 'unmount', target: '/m', result: true },
    { op: 'unmount', target: '/m', result: false },
  ]);
  assert.deepEqual(mounter.targets(), []);
});

test('the fake can be told to fail a mount, and then records nothing', () => {
  const mounter = createFakeMounter({ fail: (plan) => (plan.target === '/bad' ? new ShibafuError('TARGET_BUSY', 'busy') : undefined) });
  assert.throws(() => mounter.mount(planOverlayMount({ lowers: ['/s/a', '/s/b'], target: '/bad' })), { code: 'TARGET_BUSY' });
  assert.deepEqual(mounter.calls, []);
  assert.equal(mounter.mountedAt('/bad'), undefined);
});
