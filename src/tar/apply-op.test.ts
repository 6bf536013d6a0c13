/**
 * toApplyOp: each tar entry classified into the one operation the applier will carry out,
 * before anything touches disk (no root needed).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toApplyOp, type ApplyEntry } from './apply-op.js';

const limits = { maxDepth: 16, maxBytes: 1 << 30 };
const T = { sec: 1_650_000_000, nsec: 500_000_000 };

function entry(over: Partial<ApplyEntry> & Pick<ApplyEntry, 'path' | 'type'>): ApplyEntry {
  return { linkpath: '', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: T, devmajor: 0, devminor: 0, xattrs: new Map(), ...over };
}

const attrs = { mode: 0o644, uid: 0, gid: 0, mtime: T, xattrs: [] };

test('regular files keep size, mode bits (setuid/setgid/sticky), owner and mtime', () => {
  assert.deepEqual(toApplyOp(entry({ path: './usr/bin/su', type: 'file', size: 42, mode: 0o4755, uid: 1000, gid: 1001 }), limits), {
    op: 'file', parts: ['usr', 'bin', 'su'], size: 42, attrs: { mode: 0o4755, uid: 1000, gid: 1001, mtime: T, xattrs: [] },
  });
  // File-type bits some writers leave in the mode field are dropped.
  const op = toApplyOp(entry({ path: 'f', type: 'file', mode: 0o100644 }), limits);
  assert.equal(op.op === 'file' && op.attrs.mode, 0o644);
});

test('a sparse file becomes a sparse op with its map; its real size is bounded by the expanded-size limit', () => {
  const map = { format: 'pax-1.0' as const, realSize: 1 << 20, offsets: [0, 4096], sizes: [10, 0] };
  assert.deepEqual(toApplyOp(entry({ path: 'var/disk.img', type: 'file', size: 10, sparse: map }), limits), {
    op: 'sparse', parts: ['var', 'disk.img'], attrs, map,
  });
  assert.throws(() => toApplyOp(entry({ path: 'big', type: 'file', size: 10, sparse: { ...map, realSize: 2 ** 40 } }), limits),
    (e: Error & { code?: string }) => e.code === 'LIMIT_EXCEEDED' && /"big": its size of 1099511627776 bytes exceeds the limit of 1073741824 bytes/.test(e.message));
});

test('directories, including the layer root', () => {
  assert.deepEqual(toApplyOp(entry({ path: 'tmp/', type: 'dir', mode: 0o1777 }), limits), { op: 'dir', parts: ['tmp'], attrs: { ...attrs, mode: 0o1777 } });
  assert.deepEqual(toApplyOp(entry({ path: './', type: 'dir', mode: 0o755 }), limits), { op: 'dir', parts: [], attrs: { ...attrs, mode: 0o755 } });
});

test('symlinks keep their target as text, even absolute or climbing (never followed on import)', () => {
  assert.deepEqual(toApplyOp(entry({ path: 'bin/sh', type: 'symlink', linkpath: 'busybox' }), limits), { op: 'symlink', parts: ['bin', 'sh'], target: 'busybox', attrs });
  assert.deepEqual(toApplyOp(entry({ path: 'etc/mtab', type: 'symlink', linkpath: '/proc/self/mounts' }), limits).op, 'symlink');
  assert.deepEqual(toApplyOp(entry({ path: 'up', type: 'symlink', linkpath: '../../..' }), limits).op, 'symlink');
  assert.throws(() => toApplyOp(entry({ path: 's', type: 'symlink', linkpath: '' }), limits), { code: 'LINK_UNSAFE' });
});

test('hardlinks: target split like a path; outside, absolute, empty or the root are LINK_UNSAFE', () => {
  assert.deepEqual(toApplyOp(entry({ path: 'bin/ls', type: 'link', linkpath: './bin/busybox' }), limits), { op: 'hardlink', parts: ['bin', 'ls'], targetParts: ['bin', 'busybox'] });
  for (const linkpath of ['../../etc/passwd', '/etc/passwd', '', '.', './']) {
    assert.throws(() => toApplyOp(entry({ path: 'h', type: 'link', linkpath }), limits), { code: 'LINK_UNSAFE' }, JSON.stringify(linkpath));
  }
});

test('devices and fifos; a 0/0 character device is refused (overlay\'s own whiteout format)', () => {
  assert.deepEqual(toApplyOp(entry({ path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }), limits), {
    op: 'device', parts: ['dev', 'null'], kind: 'char', major: 1, minor: 3, attrs: { ...attrs, mode: 0o666 },
  });
  assert.deepEqual(toApplyOp(entry({ path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 }), limits), {
    op: 'device', parts: ['dev', 'sda'], kind: 'block', major: 8, minor: 0, attrs,
  });
  // A block device 0/0 is a device like any other; only the char 0/0 means "whiteout".
  assert.equal(toApplyOp(entry({ path: 'dev/b00', type: 'block' }), limits).op, 'device');
  assert.deepEqual(toApplyOp(entry({ path: 'run/fifo', type: 'fifo', devmajor: 9, devminor: 9 }), limits), {
    op: 'device', parts: ['run', 'fifo'], kind: 'fifo', major: 0, minor: 0, attrs,
  });
  assert.throws(() => toApplyOp(entry({ path: 'dev/wh', type: 'char' }), limits), { code: 'PATH_UNSAFE' });
});

test('whiteouts and opaque markers, whatever the entry\'s own type', () => {
  assert.deepEqual(toApplyOp(entry({ path: 'etc/.wh.motd', type: 'file' }), limits), { op: 'whiteout', parts: ['etc', 'motd'] });
  assert.deepEqual(toApplyOp(entry({ path: '.wh.old', type: 'file' }), limits), { op: 'whiteout', parts: ['old'] });
  // Some producers hardlink all whiteouts to one inode.
  assert.deepEqual(toApplyOp(entry({ path: 'a/.wh.b', type: 'link', linkpath: 'x/.wh.y' }), limits), { op: 'whiteout', parts: ['a', 'b'] });
  assert.deepEqual(toApplyOp(entry({ path: 'var/cache/.wh..wh..opq', type: 'file' }), limits), { op: 'opaque', dirParts: ['var', 'cache'] });
  assert.deepEqual(toApplyOp(entry({ path: '.wh..wh..opq', type: 'file' }), limits), { op: 'opaque', dirParts: [] });
  assert.throws(() => toApplyOp(entry({ path: 'etc/.wh.', type: 'file' }), limits), { code: 'PATH_UNSAFE' });
});

test('aufs metadata and everything under it is skipped', () => {
  assert.equal(toApplyOp(entry({ path: '.wh..wh.plnk/', type: 'dir' }), limits).op, 'skip');
  assert.equal(toApplyOp(entry({ path: '.wh..wh.plnk/123.456', type: 'file', size: 3 }), limits).op, 'skip');
  assert.equal(toApplyOp(entry({ path: 'x/.wh..wh.orph/sub/f', type: 'file' }), limits).op, 'skip');
});

test('xattrs: ordinary ones pass in order; trusted.* and user.overlay.* are XATTR_FORBIDDEN', () => {
  const xattrs = new Map([['user.foo', Buffer.from('bar')], ['security.capability', Buffer.from([1, 0, 0, 2])]]);
  const op = toApplyOp(entry({ path: 'f', type: 'file', xattrs }), limits);
  assert.deepEqual(op.op === 'file' && op.attrs.xattrs, [['user.foo', Buffer.from('bar')], ['security.capability', Buffer.from([1, 0, 0, 2])]]);
  for (const name of ['trusted.overlay.opaque', 'trusted.overlay.redirect', 'user.overlay.opaque']) {
    for (const type of ['file', 'dir', 'symlink', 'fifo'] as const) {
      assert.throws(
        () => toApplyOp(entry({ path: 'x', type, linkpath: 'y', xattrs: new Map([[name, Buffer.from('y')]]) }), limits),
        { code: 'XATTR_FORBIDDEN' },
        `${name} on ${type}`,
      );
    }
  }
});

test('paths: unsafe ones are refused before classification; only a directory may stand at the root', () => {
  assert.throws(() => toApplyOp(entry({ path: '../x', type: 'file' }), limits), { code: 'PATH_UNSAFE' });
  assert.throws(() => toApplyOp(entry({ path: '/x/.wh.y', type: 'file' }), limits), { code: 'PATH_UNSAFE' });
  assert.throws(() => toApplyOp(entry({ path: '../.wh..wh..opq', type: 'file' }), limits), { code: 'PATH_UNSAFE' });
  assert.throws(() => toApplyOp(entry({ path: 'a/b/c', type: 'file' }), { ...limits, maxDepth: 2 }), { code: 'LIMIT_EXCEEDED' });
  for (const type of ['file', 'symlink', 'fifo'] as const) {
    assert.throws(() => toApplyOp(entry({ path: './', type, linkpath: 'x' }), limits), { code: 'PATH_UNSAFE' }, type);
  }
});
