import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isShibafuError, ShibafuError } from '../errors.js';
import { OVERLAY_MAX_STACK, planOverlayMount } from './plan-overlay-mount.js';

const layers = (n: number): string[] => Array.from({ length: n }, (_, i) => `/store/layers/${i}/diff`);

function assertCode(fn: () => unknown, code: ShibafuError['code'], message?: RegExp): ShibafuError {
  let caught: unknown;
  assert.throws(fn, (err) => { caught = err; return isShibafuError(err, code); });
  const err = caught as ShibafuError;
  if (message !== undefined) assert.match(err.message, message);
  return err;
}

test('lowers come out top first, the kernel\'s order', () => {
  const plan = planOverlayMount({ lowers: ['/s/base', '/s/mid', '/s/top'], target: '/m' });
  assert.deepEqual(plan.lowers, ['/s/top', '/s/mid', '/s/base']);
  assert.deepEqual(plan, {
    fsType: 'overlay',
    source: 'shibafu',
    lowers: ['/s/top', '/s/mid', '/s/base'],
    upper: undefined,
    work: undefined,
    target: '/m',
    flags: { volatile: false, readonly: false },
  });
});

test('a writable plan carries upper, work and flags', () => {
  const plan = planOverlayMount({ lowers: ['/s/base'], upper: '/c/upper', work: '/c/work', target: '/c/merged', options: { volatile: true } });
  assert.deepEqual(plan.lowers, ['/s/base']);
  assert.equal(plan.upper, '/c/upper');
  assert.equal(plan.work, '/c/work');
  assert.deepEqual(plan.flags, { volatile: true, readonly: false });
  const ro = planOverlayMount({ lowers: ['/s/a', '/s/b'], upper: '/c/u', work: '/c/w', target: '/c/m', options: { readonly: true } });
  assert.deepEqual(ro.flags, { volatile: false, readonly: true });
});

test('one read-only lower is stacked on the empty dir (the kernel needs 2 lowers without an upper)', () => {
  const plan = planOverlayMount({ lowers: ['/s/only'], target: '/m', emptyDir: '/s/empty' });
  assert.deepEqual(plan.lowers, ['/s/only', '/s/empty']);
  assertCode(() => planOverlayMount({ lowers: ['/s/only'], target: '/m' }), 'USAGE', /needs 2 lower layers/);
  // With an upper, one lower is enough and the empty dir is not used.
  const rw = planOverlayMount({ lowers: ['/s/only'], upper: '/c/u', work: '/c/w', target: '/m', emptyDir: '/s/empty' });
  assert.deepEqual(rw.lowers, ['/s/only']);
});

test(`${OVERLAY_MAX_STACK} lowers plan; ${OVERLAY_MAX_STACK + 1} fail with STACK_TOO_DEEP naming depth, limit and the way out`, () => {
  assert.equal(planOverlayMount({ lowers: layers(500), target: '/m' }).lowers.length, 500);
  const err = assertCode(() => planOverlayMount({ lowers: layers(501), target: '/m' }), 'STACK_TOO_DEEP');
  assert.equal(err.message, 'Cannot mount a stack of 501 layers: the kernel mounts at most 500 lower layers (OVL_MAX_STACK)');
  assert.match(err.hint ?? '', /Flatten the stack/);
  assert.match(err.hint ?? '', /commit/);
  assert.deepEqual(err.details, { depth: 501, limit: 500 });
  assert.equal(err.exitStatus, 6);
  // The depth is checked before any path, so a huge bad request still says what matters most.
  assertCode(() => planOverlayMount({ lowers: Array(2000).fill('relative'), target: 'x' }), 'STACK_TOO_DEEP', /2000 layers/);
});

test('no lowers, upper without work, volatile without upper are usage errors', () => {
  assertCode(() => planOverlayMount({ lowers: [], target: '/m' }), 'USAGE', /no layers/);
  assertCode(() => planOverlayMount({ lowers: ['/a', '/b'], upper: '/u', target: '/m' }), 'USAGE', /work dir/);
  assertCode(() => planOverlayMount({ lowers: ['/a', '/b'], work: '/w', target: '/m' }), 'USAGE', /upper dir/);
  assertCode(() => planOverlayMount({ lowers: ['/a', '/b'], target: '/m', options: { volatile: true } }), 'USAGE', /volatile/);
});

test('paths with overlay separators, relative paths and dot parts are PATH_UNSAFE', () => {
  for (const bad of ['/s/a,b', '/s/a:b', '/s/a\\b', '/s/a\nb', '/s/a\0b']) {
    assertCode(() => planOverlayMount({ lowers: ['/s/ok', bad], target: '/m' }), 'PATH_UNSAFE', /lower layer 2/);
  }
  assertCode(() => planOverlayMount({ lowers: ['/a', '/b'], upper: '/u,x', work: '/w', target: '/m' }), 'PATH_UNSAFE', /upper dir/);
  assertCode(() => planOverlayMount({ lowers: ['/a', '/b'], target: '/m:x' }), 'PATH_UNSAFE', /mount point/);
  assertCode(() => planOverlayMount({ lowers: ['s/a', '/b'], target: '/m' }), 'PATH_UNSAFE', /not an absolute path/);
  assertCode(() => planOverlayMount({ lowers: ['/s/../etc', '/b'], target: '/m' }), 'PATH_UNSAFE', /"\.\."/);
  assertCode(() => planOverlayMount({ lowers: [`/${'x'.repeat(4096)}`, '/b'], target: '/m' }), 'PATH_UNSAFE', /PATH_MAX/);
});

test('paths longer than fsconfig\'s 255 bytes are allowed: the mount passes them as fds', () => {
  const long = `/${'d'.repeat(300)}`;
  assert.deepEqual(planOverlayMount({ lowers: [long, '/b'], target: '/m' }).lowers, ['/b', long]);
});

test('a directory named twice, or one layer inside another, is PATH_CONFLICT', () => {
  assertCode(() => planOverlayMount({ lowers: ['/s/a', '/s/b', '/s/a/'], target: '/m' }), 'PATH_CONFLICT', /lower layer 3 and lower layer 1 are the same directory "\/s\/a"/);
  assertCode(() => planOverlayMount({ lowers: ['/s/a', '/s//a'], target: '/m' }), 'PATH_CONFLICT', /same directory/);
  assertCode(() => planOverlayMount({ lowers: ['/s/a', '/s/a/sub'], target: '/m' }), 'PATH_CONFLICT', /lower layer 2 "\/s\/a\/sub" is inside lower layer 1 "\/s\/a"/);
  assertCode(() => planOverlayMount({ lowers: ['/s/a', '/s/b'], upper: '/s/a/up', work: '/c/w', target: '/m' }), 'PATH_CONFLICT', /upper dir/);
  assertCode(() => planOverlayMount({ lowers: ['/s/a', '/s/b'], upper: '/c/u', work: '/c/u/w', target: '/m' }), 'PATH_CONFLICT', /work dir/);
  assertCode(() => planOverlayMount({ lowers: ['/s/a'], target: '/m', emptyDir: '/s/a' }), 'PATH_CONFLICT', /empty dir/);
  // Siblings that share a name prefix are not nested.
  assert.equal(planOverlayMount({ lowers: ['/s/a', '/s/a-b', '/s/ab'], target: '/m' }).lowers.length, 3);
});

test('paths are normalized: duplicate and trailing slashes go', () => {
  const plan = planOverlayMount({ lowers: ['/s//a/', '/s/b'], upper: '/c/u/', work: '/c//w', target: '/c/m/' });
  assert.deepEqual(plan.lowers, ['/s/b', '/s/a']);
  assert.equal(plan.upper, '/c/u');
  assert.equal(plan.work, '/c/w');
  assert.equal(plan.target, '/c/m');
});
