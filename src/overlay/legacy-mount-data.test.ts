import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isShibafuError, type ShibafuError } from '../errors.js';
import { LEGACY_MOUNT_DATA_MAX, legacyMountData } from './legacy-mount-data.js';
import { planOverlayMount } from './plan-overlay-mount.js';

const layers = (n: number): string[] => Array.from({ length: n }, (_, i) => `/var/lib/shibafu/layers/${String(i).padStart(64, '0')}/diff`);

test('the option string lists lowers top first, then upper, work, the pinned redirect_dir/metacopy and volatile', () => {
  const ro = planOverlayMount({ lowers: ['/s/base', '/s/top'], target: '/m', options: { readonly: true } });
  assert.equal(legacyMountData(ro), 'lowerdir=/s/top:/s/base');
  const rw = planOverlayMount({ lowers: ['/s/base'], upper: '/c/u', work: '/c/w', target: '/m', options: { volatile: true } });
  assert.equal(legacyMountData(rw), 'lowerdir=/s/base,upperdir=/c/u,workdir=/c/w,redirect_dir=off,metacopy=off,volatile');
});

test('short links replace the lowers they name; others keep their full path', () => {
  const plan = planOverlayMount({ lowers: ['/s/base', '/s/mid', '/s/top'], target: '/m' });
  const links = new Map([['/s/base', 'b0'], ['/s/top', 't2']]);
  assert.equal(legacyMountData(plan, { cwd: '/s/l', links }), 'lowerdir=t2:/s/mid:b0');
});

test('short link names with separators are refused', () => {
  const plan = planOverlayMount({ lowers: ['/s/a', '/s/b'], target: '/m' });
  assert.throws(() => legacyMountData(plan, { cwd: '/l', links: new Map([['/s/a', 'x:y']]) }), (err) => isShibafuError(err, 'PATH_UNSAFE'));
  assert.throws(() => legacyMountData(plan, { cwd: '/l', links: new Map([['/s/a', '']]) }), (err) => isShibafuError(err, 'PATH_UNSAFE'));
});

test('the string may take the whole page but the NUL: 4095 bytes pass, 4096 fail', () => {
  // 'lowerdir=' (9) + '/' + a name + ':/b' (3): pick the name so the total is exact.
  const fit = planOverlayMount({ lowers: ['/b', `/${'n'.repeat(4095 - 9 - 1 - 3)}`], target: '/m' });
  assert.equal(Buffer.byteLength(legacyMountData(fit)), LEGACY_MOUNT_DATA_MAX - 1);
  const over = planOverlayMount({ lowers: ['/b', `/${'n'.repeat(4096 - 9 - 1 - 3)}`], target: '/m' });
  let caught: ShibafuError | undefined;
  assert.throws(() => legacyMountData(over), (err) => { caught = err as ShibafuError; return isShibafuError(err, 'STACK_TOO_DEEP'); });
  assert.match(caught?.message ?? '', /options take 4097 bytes, more than the one page \(4096 bytes with the final NUL\)/);
  assert.deepEqual(caught?.details, { bytes: 4097, limit: 4096, depth: 2 });
});

test('500 store paths do not fit a page; 500 short links of 6 characters do, with upper and work', () => {
  const plan = planOverlayMount({
    lowers: layers(500),
    upper: `/var/lib/shibafu/containers/${'c'.repeat(64)}/upper`,
    work: `/var/lib/shibafu/containers/${'c'.repeat(64)}/work`,
    target: '/m',
  });
  assert.throws(() => legacyMountData(plan), (err) => isShibafuError(err, 'STACK_TOO_DEEP') && /500 layers with mount\(2\)/.test(err.message));
  const links = new Map(plan.lowers.map((dir, i) => [dir, i.toString(36).padStart(6, '0')]));
  const data = legacyMountData(plan, { cwd: '/var/lib/shibafu/l', links });
  assert.ok(Buffer.byteLength(data) < LEGACY_MOUNT_DATA_MAX);
  assert.equal(data.split(',')[0]?.split(':').length, 500);
});
