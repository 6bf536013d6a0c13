import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isShibafuError } from '../errors.js';
import { assertXattrsSupported } from './assert-xattrs-supported.js';
import { OVERLAY_CAPABILITIES } from './overlay/overlay-storage.js';
import { ZFS_CAPABILITIES } from './zfs/zfs-storage.js';

const zfs = { driver: 'zfs', capabilities: ZFS_CAPABILITIES } as const;
const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');

test('a driver without xattrs refuses an entry that has some, naming the path and every attribute', () => {
  assert.throws(
    () => assertXattrsSupported(zfs, { path: 'usr/bin/ping', xattrs: new Map([['security.capability', cap], ['user.mime', Buffer.from('x')]]) }),
    (err: unknown) => {
      assert.ok(isShibafuError(err, 'UNSUPPORTED'));
      assert.equal(err.message, 'Cannot import "usr/bin/ping" into the zfs driver: it has the extended attributes "security.capability", "user.mime", which this driver\'s file system cannot hold');
      assert.match(err.hint ?? '', /overlay driver/);
      assert.deepEqual(err.details, { path: 'usr/bin/ping', xattrs: ['security.capability', 'user.mime'], driver: 'zfs' });
      assert.equal(err.exitStatus, 6);
      return true;
    },
  );
});

test('the attrs of an ApplyOp (an array of pairs) are checked the same way', () => {
  assert.throws(() => assertXattrsSupported(zfs, { path: 'a', xattrs: [['user.x', Buffer.from('1')]] }), { code: 'UNSUPPORTED' });
});

test('an entry without xattrs passes on every driver; xattrs pass where the driver keeps them', () => {
  assertXattrsSupported(zfs, { path: 'etc/passwd', xattrs: new Map() });
  assertXattrsSupported(zfs, { path: 'etc/passwd', xattrs: [] });
  assertXattrsSupported({ driver: 'overlay', capabilities: OVERLAY_CAPABILITIES }, { path: 'usr/bin/ping', xattrs: new Map([['security.capability', cap]]) });
});
