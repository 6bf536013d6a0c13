import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSysError } from './sys-error.js';
import {
  fgetxattr,
  flistxattr,
  fremovexattr,
  fsetxattr,
  lgetxattr,
  llistxattr,
  lremovexattr,
  lsetxattr,
  XATTR_CREATE,
  XATTR_REPLACE,
} from './xattr.js';

const NOT_ROOT = process.getuid?.() === 0 ? false : 'needs root (trusted.* xattrs need CAP_SYS_ADMIN); CI runs this suite as root';

test('xattrs on the real kernel', { skip: NOT_ROOT }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-xattr-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const opaque = join(dir, 'opaque');
  mkdirSync(opaque);

  await t.test('trusted.overlay.opaque: set, get, list, remove', () => {
    assert.equal(lgetxattr(opaque, 'trusted.overlay.opaque'), null);
    lsetxattr(opaque, 'trusted.overlay.opaque', Buffer.from('y'));
    assert.deepEqual(lgetxattr(opaque, 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.ok(llistxattr(opaque).includes('trusted.overlay.opaque'));
    lremovexattr(opaque, 'trusted.overlay.opaque');
    assert.equal(lgetxattr(opaque, 'trusted.overlay.opaque'), null);
    assert.ok(!llistxattr(opaque).includes('trusted.overlay.opaque'));
  });

  await t.test('binary, empty and large values come back byte for byte', () => {
    const file = join(dir, 'values');
    writeFileSync(file, '');
    const binary = Buffer.from([0, 1, 2, 0, 255, 0]);
    const large = Buffer.alloc(3000, 0xab);
    lsetxattr(file, 'user.binary', binary);
    lsetxattr(file, 'user.empty', Buffer.alloc(0));
    lsetxattr(file, 'user.large', large);
    assert.deepEqual(lgetxattr(file, 'user.binary'), binary);
    assert.deepEqual(lgetxattr(file, 'user.empty'), Buffer.alloc(0));
    assert.deepEqual(lgetxattr(file, 'user.large'), large);
    assert.deepEqual(llistxattr(file).filter((n) => n.startsWith('user.')).sort(), ['user.binary', 'user.empty', 'user.large']);
  });

  await t.test('flags: XATTR_CREATE refuses an existing name, XATTR_REPLACE a missing one', () => {
    const file = join(dir, 'flags');
    writeFileSync(file, '');
    lsetxattr(file, 'user.a', Buffer.from('1'), XATTR_CREATE);
    assert.throws(() => lsetxattr(file, 'user.a', Buffer.from('2'), XATTR_CREATE), (err) => isSysError(err, 'EEXIST'));
    assert.throws(() => lsetxattr(file, 'user.b', Buffer.from('2'), XATTR_REPLACE), (err) => isSysError(err, 'ENODATA'));
    lsetxattr(file, 'user.a', Buffer.from('3'), XATTR_REPLACE);
    assert.deepEqual(lgetxattr(file, 'user.a'), Buffer.from('3'));
    assert.throws(() => lremovexattr(file, 'user.missing'), (err) => isSysError(err, 'ENODATA'));
  });

  await t.test('l* calls act on a symlink itself, never on its target', () => {
    const target = join(dir, 'target');
    const link = join(dir, 'link');
    writeFileSync(target, '');
    symlinkSync(target, link);
    lsetxattr(target, 'trusted.mark', Buffer.from('target'));
    assert.equal(lgetxattr(link, 'trusted.mark'), null);
    lsetxattr(link, 'trusted.mark', Buffer.from('link'));
    assert.deepEqual(lgetxattr(link, 'trusted.mark'), Buffer.from('link'));
    assert.deepEqual(lgetxattr(target, 'trusted.mark'), Buffer.from('target'));
    // user.* is not allowed on symlinks (fs/xattr.c): the kernel says EPERM.
    assert.throws(() => lsetxattr(link, 'user.x', Buffer.from('1')), (err) => isSysError(err, 'EPERM'));
  });

  await t.test('missing files fail with ENOENT; bad names with a SysError', () => {
    assert.throws(() => lgetxattr(join(dir, 'none'), 'user.a'), (err) => isSysError(err, 'ENOENT'));
    assert.throws(() => llistxattr(join(dir, 'none')), (err) => isSysError(err, 'ENOENT'));
    assert.throws(() => lsetxattr(opaque, 'nonamespace', Buffer.from('1')), (err) => isSysError(err, 'ENOTSUP'));
    assert.throws(() => lsetxattr(opaque, 'user.a\0b', Buffer.from('1')), (err) => isSysError(err, 'EINVAL'));
  });

  await t.test('f* calls through a file descriptor', () => {
    const file = join(dir, 'byfd');
    const fd = openSync(file, 'w');
    try {
      assert.equal(fgetxattr(fd, 'user.a'), null);
      fsetxattr(fd, 'user.a', Buffer.from('fd'));
      assert.deepEqual(fgetxattr(fd, 'user.a'), Buffer.from('fd'));
      assert.ok(flistxattr(fd).includes('user.a'));
      fremovexattr(fd, 'user.a');
      assert.ok(!flistxattr(fd).includes('user.a'));
    } finally {
      closeSync(fd);
    }
    assert.deepEqual(llistxattr(file).filter((n) => n.startsWith('user.')), []);
  });
});
