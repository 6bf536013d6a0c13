/**
 * Overlay mounts on the real kernel (root). Every mount made here is recorded and undone in the
 * file's after() hook, failed tests included.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, lstatSync, openSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isShibafuError, type ShibafuError } from '../src/errors.js';
import { systemMounter } from '../src/overlay/system-mounter.js';
import { mountOverlay, unmountOverlay, type MountApi } from '../src/overlay/mount-overlay.js';
import { OVERLAY_MAX_STACK, planOverlayMount, type OverlayMountPlan } from '../src/overlay/plan-overlay-mount.js';
import { probeOverlay } from '../src/overlay/probe-overlay.js';
import { fsconfigCreate, fsconfigString, fsmount, fsopen, moveMount } from '../src/sys/mount-api.js';
import { mountAt } from '../src/sys/mount-info.js';
import { devMajor, devMinor } from '../src/sys/mknod.js';
import { isSysError } from '../src/sys/sys-error.js';
import { lgetxattr } from '../src/sys/xattr.js';
import { mounterContract } from './mounter-contract.js';

const SKIP = process.getuid?.() === 0 ? false : 'needs root (CAP_SYS_ADMIN for overlay mounts); CI runs this suite as root';
const ROOT = SKIP === false ? mkdtempSync(join(tmpdir(), 'shibafu-overlay-')) : '';
const targets: string[] = [];
let dirCount = 0;

after(() => {
  if (ROOT === '') return;
  // Newest first: a mount may sit inside an earlier one's tree. Loop: mounts on one target stack.
  for (const target of [...targets].reverse()) while (unmountOverlay(target, { detach: true }));
  rmSync(ROOT, { recursive: true, force: true });
});

function freshDir(role: string): string {
  const dir = join(ROOT, `${role}-${dirCount++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function freshTarget(): string {
  const target = freshDir('merged');
  targets.push(target);
  return target;
}

/** `n` layers, bottom first: each has `f` naming its layer and its own file `u<i>`. */
function makeLayers(n: number): string[] {
  const base = freshDir('layers');
  return Array.from({ length: n }, (_, i) => {
    const dir = join(base, String(i));
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), `layer ${i}`);
    writeFileSync(join(dir, `u${i}`), `unique ${i}`);
    return dir;
  });
}

function assertStackView(merged: string, n: number): void {
  assert.equal(readFileSync(join(merged, 'f'), 'utf8'), `layer ${n - 1}`, 'the top layer\'s f wins');
  const expected = ['f', ...Array.from({ length: n }, (_, i) => `u${i}`)].sort();
  assert.deepEqual(readdirSync(merged).sort(), expected);
  for (let i = 0; i < n; i++) assert.equal(readFileSync(join(merged, `u${i}`), 'utf8'), `unique ${i}`);
}

function mountStack(n: number, api: MountApi): OverlayMountPlan {
  const plan = planOverlayMount({ lowers: makeLayers(n), target: freshTarget(), emptyDir: freshDir('empty') });
  assert.equal(mountOverlay(plan, { api }), api);
  return plan;
}

function codeOf(fn: () => unknown): ShibafuError {
  try {
    fn();
  } catch (err) {
    if (isShibafuError(err)) return err;
    throw err;
  }
  assert.fail('expected a ShibafuError');
}

test('probeOverlay: this kernel has overlay, the new mount API, lowerdir+ and lowerdir+ by fd', { skip: SKIP }, () => {
  const probe = probeOverlay({ refresh: true });
  assert.equal(probe.overlay, true);
  assert.equal(probe.newMountApi, true);
  assert.equal(probe.lowerdirPlus, true); // Linux 6.8+
  assert.equal(probe.lowerdirFd, true); // Linux 6.13+
  assert.equal(probe.maxStack, 500);
  assert.equal(probe.reason, undefined);
  assert.equal(probeOverlay(), probe, 'cached once per process');
});

test('kernel rule: the FIRST fsconfig("lowerdir+") is the TOP layer', { skip: SKIP }, () => {
  const [a, b] = makeLayers(2) as [string, string];
  const target = freshTarget();
  const fsfd = fsopen('overlay');
  try {
    fsconfigString(fsfd, 'lowerdir+', a); // first call
    fsconfigString(fsfd, 'lowerdir+', b);
    fsconfigCreate(fsfd);
    const mfd = fsmount(fsfd);
    try { moveMount(mfd, target); } finally { closeSync(mfd); }
  } finally {
    closeSync(fsfd);
  }
  assert.equal(readFileSync(join(target, 'f'), 'utf8'), 'layer 0', 'a, configured first, shadows b');
  assert.equal(unmountOverlay(target), true);
});

test('kernel rule: the 501st lowerdir+ is refused, and the error carries the kernel\'s reason', { skip: SKIP }, () => {
  const dirs = makeLayers(501);
  const fsfd = fsopen('overlay');
  try {
    for (const dir of dirs.slice(0, OVERLAY_MAX_STACK)) fsconfigString(fsfd, 'lowerdir+', dir);
    assert.throws(
      () => fsconfigString(fsfd, 'lowerdir+', dirs[500] as string),
      (err) => isSysError(err, 'EINVAL') && /too many lower directories, limit is 500/.test(err.message),
    );
  } finally {
    closeSync(fsfd);
  }
});

test('kernel rule: one lower without an upper is refused; the plan adds the empty dir', { skip: SKIP }, () => {
  const [only] = makeLayers(1) as [string];
  const fsfd = fsopen('overlay');
  try {
    fsconfigString(fsfd, 'lowerdir+', only);
    assert.throws(() => fsconfigCreate(fsfd), (err) => isSysError(err, 'EINVAL'));
  } finally {
    closeSync(fsfd);
  }
});

for (const n of [1, 2, 50, 500]) {
  test(`new mount API: a stack of ${n} shows the top layer's f and every layer's own file`, { skip: SKIP }, () => {
    const plan = mountStack(n, 'new');
    assertStackView(plan.target, n);
    const info = mountAt(plan.target);
    assert.equal(info?.fsType, 'overlay');
    assert.equal(info?.source, 'shibafu');
    assert.equal(unmountOverlay(plan.target), true);
  });
}

test('the plan\'s order is the kernel\'s: users name bottom first, the last named wins', { skip: SKIP }, () => {
  const [bottom, top] = makeLayers(2) as [string, string];
  for (const api of ['new', 'legacy'] as const) {
    const plan = planOverlayMount({ lowers: [bottom, top], target: freshTarget() });
    mountOverlay(plan, { api });
    assert.equal(readFileSync(join(plan.target, 'f'), 'utf8'), 'layer 1', `${api}: top wins`);
    assert.equal(unmountOverlay(plan.target), true);
    const reversed = planOverlayMount({ lowers: [top, bottom], target: plan.target });
    mountOverlay(reversed, { api });
    assert.equal(readFileSync(join(plan.target, 'f'), 'utf8'), 'layer 0', `${api}: reversed, the other wins`);
    assert.equal(unmountOverlay(plan.target), true);
  }
});

test('501 layers fail with STACK_TOO_DEEP before any syscall', { skip: SKIP }, () => {
  // The plan is pure: with paths that do not exist, a syscall would have said ENOENT instead.
  const lowers = Array.from({ length: 501 }, (_, i) => join(ROOT, 'never-created', String(i)));
  const err = codeOf(() => planOverlayMount({ lowers, target: join(ROOT, 'never-created', 'm') }));
  assert.equal(err.code, 'STACK_TOO_DEEP');
  assert.match(err.message, /501 layers.*at most 500/);
});

test('legacy mount(2): 500 layers through short links in l/, the working directory restored', { skip: SKIP }, () => {
  const lowers = makeLayers(500);
  const linkDir = freshDir('l');
  const links = new Map<string, string>();
  lowers.forEach((dir, i) => {
    const name = i.toString(36);
    symlinkSync(join('..', dir.split('/').slice(-2).join('/')), join(linkDir, name));
    links.set(dir, name);
  });
  const plan = planOverlayMount({ lowers, target: freshTarget() });
  assert.equal(codeOf(() => mountOverlay(plan, { api: 'legacy' })).code, 'STACK_TOO_DEEP', 'full paths exceed one page');
  const cwd = process.cwd();
  assert.equal(mountOverlay(plan, { api: 'legacy', shortLinks: { cwd: linkDir, links } }), 'legacy');
  assert.equal(process.cwd(), cwd);
  assertStackView(plan.target, 500);
  assert.equal(unmountOverlay(plan.target), true);
});

test('a writable mount copies up on write, whiteouts deletions, marks recreated dirs opaque', { skip: SKIP }, () => {
  const [lower] = makeLayers(1) as [string];
  mkdirSync(join(lower, 'dir'));
  writeFileSync(join(lower, 'dir', 'old'), 'old');
  const plan = planOverlayMount({ lowers: [lower], upper: freshDir('upper'), work: freshDir('work'), target: freshTarget() });
  mountOverlay(plan);
  const upper = plan.upper as string;
  writeFileSync(join(plan.target, 'f'), 'changed');
  rmSync(join(plan.target, 'u0'));
  rmSync(join(plan.target, 'dir'), { recursive: true });
  mkdirSync(join(plan.target, 'dir'));
  assert.equal(readFileSync(join(upper, 'f'), 'utf8'), 'changed', 'copied up');
  assert.equal(readFileSync(join(lower, 'f'), 'utf8'), 'layer 0', 'lower untouched');
  const whiteout = lstatSync(join(upper, 'u0'));
  assert.ok(whiteout.isCharacterDevice() && devMajor(whiteout.rdev) === 0 && devMinor(whiteout.rdev) === 0, 'whiteout 0/0');
  assert.equal(lgetxattr(join(upper, 'dir'), 'trusted.overlay.opaque')?.toString(), 'y');
  assert.deepEqual(readdirSync(join(plan.target, 'dir')), []);
  assert.equal(unmountOverlay(plan.target), true);
});

test('readonly and volatile flags reach the kernel through both APIs', { skip: SKIP }, () => {
  for (const api of ['new', 'legacy'] as const) {
    const ro = planOverlayMount({ lowers: makeLayers(2), upper: freshDir('upper'), work: freshDir('work'), target: freshTarget(), options: { readonly: true } });
    mountOverlay(ro, { api });
    assert.throws(() => writeFileSync(join(ro.target, 'new'), 'x'), (err) => isSysError(err, 'EROFS'));
    assert.equal(unmountOverlay(ro.target), true);
    const vol = planOverlayMount({ lowers: makeLayers(2), upper: freshDir('upper'), work: freshDir('work'), target: freshTarget(), options: { volatile: true } });
    mountOverlay(vol, { api });
    // Linux 6.18 prints the option as "fsync=volatile" (the fsync= mode it now belongs to).
    assert.match(mountAt(vol.target)?.superOptions ?? '', /(^|,)(fsync=)?volatile(,|$)/, api);
    assert.equal(unmountOverlay(vol.target), true);
  }
});

test('paths longer than fsconfig\'s 255 bytes mount through directory fds', { skip: SKIP }, () => {
  const deep = join(freshDir('long'), 'd'.repeat(200), 'e'.repeat(100));
  const [a, b] = [join(deep, 'a'), join(deep, 'b')];
  for (const [i, dir] of [a, b].entries()) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f'), `layer ${i}`);
  }
  const upper = join(deep, 'upper');
  const work = join(deep, 'work');
  mkdirSync(upper);
  mkdirSync(work);
  assert.ok(Buffer.byteLength(a) > 255);
  const plan = planOverlayMount({ lowers: [a, b], upper, work, target: freshTarget() });
  assert.equal(mountOverlay(plan, { api: 'new' }), 'new');
  assert.equal(readFileSync(join(plan.target, 'f'), 'utf8'), 'layer 1');
  writeFileSync(join(plan.target, 'w'), 'up');
  assert.equal(readFileSync(join(upper, 'w'), 'utf8'), 'up');
  assert.equal(unmountOverlay(plan.target), true);
});

test('mount failures name the path and the reason', { skip: SKIP }, () => {
  const [a, b] = makeLayers(2) as [string, string];
  for (const api of ['new', 'legacy'] as const) {
    const missing = planOverlayMount({ lowers: [a, join(ROOT, 'missing-layer')], target: freshTarget() });
    const err = codeOf(() => mountOverlay(missing, { api }));
    assert.equal(err.code, 'SOURCE_NOT_FOUND', api);
    if (api === 'new') assert.match(err.message, /missing-layer" does not exist/);
  }
  // Nested only after resolving a symlink: the plan cannot see it, the kernel says ELOOP.
  mkdirSync(join(a, 'sub'));
  const alias = join(freshDir('alias'), 'sub');
  symlinkSync(join(a, 'sub'), alias);
  const nested = planOverlayMount({ lowers: [a, alias, b], target: freshTarget() });
  assert.equal(codeOf(() => mountOverlay(nested, { api: 'new' })).code, 'PATH_CONFLICT');
  // A file as a layer: the fs context log says why, and the message keeps it.
  const file = planOverlayMount({ lowers: [join(a, 'f'), b], target: freshTarget() });
  const notDir = codeOf(() => mountOverlay(file, { api: 'new' }));
  assert.match(notDir.message, /is not a directory/);
});

test('unmountOverlay is idempotent', { skip: SKIP }, () => {
  const plan = mountStack(2, 'new');
  assert.equal(unmountOverlay(plan.target), true);
  assert.equal(unmountOverlay(plan.target), false);
  assert.equal(unmountOverlay(join(ROOT, 'no-such-dir')), false);
  assert.equal(mountAt(plan.target), undefined);
});

test('a busy mount is TARGET_BUSY unless detached', { skip: SKIP }, () => {
  const plan = mountStack(2, 'new');
  const fd = openBusy(plan.target);
  try {
    assert.equal(codeOf(() => unmountOverlay(plan.target)).code, 'TARGET_BUSY');
    assert.equal(unmountOverlay(plan.target, { detach: true }), true);
  } finally {
    closeSync(fd);
  }
});

/** An open file inside the mount keeps it busy. */
function openBusy(target: string): number {
  return openSync(join(target, 'f'), 'r');
}

mounterContract('kernel', { makeMounter: () => systemMounter({ emptyDir: freshDir('empty') }), makeDir: (role) => (role === 'target' || role === 'never' ? freshTarget() : freshDir(role)), skip: SKIP });
mounterContract('kernel, legacy mount(2)', { makeMounter: () => systemMounter({ emptyDir: freshDir('empty'), api: 'legacy' }), makeDir: (role) => (role === 'target' || role === 'never' ? freshTarget() : freshDir(role)), skip: SKIP });
