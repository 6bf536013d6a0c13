import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isOpaque, isOpaqueValue, isOverlayPrivateXattr, isWhiteout, isWhiteoutXattr, markOpaque, markWhiteout, opaqueXattrIn,
  refuseUnreadableOverlay, unreadableOverlayFeature, OPAQUE_XATTR, OPAQUE_XATTRS,
} from './overlay-format.js';

test('a whiteout is a character device 0/0, nothing else', () => {
  assert.equal(isWhiteout({ kind: 'char', rdev: 0 }), true);
  assert.equal(isWhiteout({ kind: 'char', rdev: 0n }), true);
  assert.equal(isWhiteout({ kind: 'char', rdev: 0x0103 }), false); // /dev/null
  assert.equal(isWhiteout({ kind: 'char', rdev: 1n << 32n }), false); // a high bit of a 64-bit dev_t
  assert.equal(isWhiteout({ kind: 'block', rdev: 0 }), false);
  assert.equal(isWhiteout({ kind: 'file', rdev: 0 }), false);
});

test('opaque: "y" in either namespace; "x", empty and absent hide nothing', () => {
  const get = (xattrs: Record<string, string>) => (name: string): Buffer | null =>
    xattrs[name] === undefined ? null : Buffer.from(xattrs[name] as string);
  assert.equal(isOpaque(get({ 'trusted.overlay.opaque': 'y' })), true);
  assert.equal(isOpaque(get({ 'user.overlay.opaque': 'y' })), true);
  assert.equal(isOpaque(get({ 'user.overlay.opaque': 'y' }), 'trusted'), false);
  assert.equal(isOpaque(get({ 'trusted.overlay.opaque': 'y' }), 'user'), false);
  assert.equal(isOpaque(get({ 'trusted.overlay.opaque': 'x' })), false);
  assert.equal(isOpaque(get({ 'trusted.overlay.opaque': 'yes' })), false);
  assert.equal(isOpaque(get({})), false);
  assert.equal(isOpaqueValue(Buffer.from('y')), true);
  assert.equal(isOpaqueValue(Buffer.alloc(0)), false);
  assert.equal(isOpaqueValue(null), false);
  assert.equal(opaqueXattrIn(['security.selinux', 'user.overlay.opaque']), 'user.overlay.opaque');
  assert.equal(opaqueXattrIn(['user.overlay.opaque', 'trusted.overlay.opaque']), 'trusted.overlay.opaque');
  assert.equal(opaqueXattrIn(['user.opaque']), null);
  assert.equal(OPAQUE_XATTR, 'trusted.overlay.opaque');
  assert.deepEqual(OPAQUE_XATTRS, { trusted: 'trusted.overlay.opaque', user: 'user.overlay.opaque' });
});

test('overlay\'s private xattrs are trusted.overlay.* and user.overlay.*, and only those', () => {
  for (const name of ['trusted.overlay.origin', 'trusted.overlay.impure', 'trusted.overlay.opaque', 'user.overlay.uuid', 'user.overlay.redirect']) {
    assert.equal(isOverlayPrivateXattr(name), true, name);
  }
  for (const name of ['trusted.overlayx', 'trusted.other', 'user.overlay', 'user.mime_type', 'security.capability', 'trusted.overlay']) {
    assert.equal(isOverlayPrivateXattr(name), false, name);
  }
  assert.equal(isWhiteoutXattr('trusted.overlay.whiteout'), true);
  assert.equal(isWhiteoutXattr('user.overlay.whiteout'), true);
  assert.equal(isWhiteoutXattr('user.whiteout'), false);
});

test('redirect and metacopy (either namespace) make a tree unreadable as a changeset: UNSUPPORTED', () => {
  assert.equal(unreadableOverlayFeature(['trusted.overlay.origin', 'trusted.overlay.impure']), null);
  assert.equal(unreadableOverlayFeature(['trusted.overlay.redirect']), 'redirect_dir');
  assert.equal(unreadableOverlayFeature(['user.overlay.metacopy']), 'metacopy');
  assert.equal(unreadableOverlayFeature(['user.metacopy', 'security.redirect']), null);
  assert.throws(() => refuseUnreadableOverlay(['trusted.overlay.metacopy'], 'copy "x"', 'bin/sh'), (err: { code?: string; message?: string; details?: unknown }) => {
    assert.equal(err.code, 'UNSUPPORTED');
    assert.equal(err.message, 'Cannot copy "x": "/bin/sh" was written with overlay\'s metacopy feature, which shibafu does not support');
    assert.deepEqual(err.details, { path: '/bin/sh', feature: 'metacopy' });
    return true;
  });
  assert.doesNotThrow(() => refuseUnreadableOverlay(['trusted.overlay.opaque'], 'copy', 'etc'));
});

test('marks are written through the ports: mknod c 0 0 mode 0, lsetxattr opaque=y in the chosen namespace', () => {
  const calls: unknown[] = [];
  const ports = {
    mknod: (...args: unknown[]) => { calls.push(['mknod', ...args]); },
    lsetxattr: (path: string, name: string, value: Buffer) => { calls.push(['lsetxattr', path, name, value.toString('latin1')]); },
  };
  markWhiteout(ports, '/l/etc/old');
  markOpaque(ports, '/l/etc');
  markOpaque(ports, '/l/opt', 'user');
  assert.deepEqual(calls, [
    ['mknod', '/l/etc/old', 'char', 0, 0, 0],
    ['lsetxattr', '/l/etc', 'trusted.overlay.opaque', 'y'],
    ['lsetxattr', '/l/opt', 'user.overlay.opaque', 'y'],
  ]);
});
