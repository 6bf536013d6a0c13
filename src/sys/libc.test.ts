import { test } from 'node:test';
import assert from 'node:assert/strict';
// Every module of sys/ and overlay/: importing them must not load koffi (node --test runs each
// test file in its own process, so nothing else loaded it before).
import './copy-file.js';
import './flock.js';
import './mknod.js';
import './mount-api.js';
import './mount-info.js';
import './renameat2.js';
import './sync.js';
import './with-cwd.js';
import './xattr.js';
import './btrfs.js';
import './fuse-overlayfs.js';
import './zfs-command.js';
import '../overlay/system-mounter.js';
import '../overlay/fake-mounter.js';
import { planOverlayMount } from '../overlay/plan-overlay-mount.js';
import { parseMountInfo } from './mount-info.js';
import { cString, libc, nativeLoaded } from './libc.js';
import { isSysError } from './sys-error.js';

test('koffi loads on the first native call, not on import nor for pure work', () => {
  planOverlayMount({ lowers: ['/a', '/b'], target: '/m' });
  parseMountInfo('22 1 8:1 / / rw - ext4 /dev/vda rw\n');
  assert.equal(nativeLoaded(), false);
  assert.equal(typeof libc('syncfs'), 'function');
  assert.equal(nativeLoaded(), true);
  assert.equal(libc('syncfs'), libc('syncfs'), 'declared once');
});

test('cString refuses a NUL, which C would read as the end of the string', () => {
  assert.equal(cString('/ok/path', 'open'), '/ok/path');
  assert.throws(() => cString('/etc/passwd\0.png', 'open'), (err) => isSysError(err, 'EINVAL'));
});
