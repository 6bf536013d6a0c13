import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zfsFailureOf } from './zfs-command.js';

// The stderr below is what zfs-fuse 0.7 (Debian) printed for each case, copied verbatim.
test('zfs failures are classified from libzfs messages', () => {
  assert.equal(zfsFailureOf("cannot open 'tank/x': dataset does not exist\n"), 'missing');
  assert.equal(zfsFailureOf("cannot open 'nopool': no such pool\n"), 'missing');
  assert.equal(zfsFailureOf("cannot create 'tank/a': dataset already exists\n"), 'exists');
  assert.equal(zfsFailureOf("cannot rename 'tank/a': dataset already exists\n"), 'exists');
  assert.equal(zfsFailureOf("cannot create snapshot 'tank/a@c': dataset already exists\n"), 'exists');
  assert.equal(zfsFailureOf("cannot destroy 'tank/a@c': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\ntank/b\n"), 'has-clones');
  assert.equal(zfsFailureOf("cannot destroy 'tank/a': filesystem has dependent clones\n"), 'has-clones');
  assert.equal(zfsFailureOf("cannot unmount 'tank/a': not currently mounted\n"), 'not-mounted');
  assert.equal(zfsFailureOf("cannot rename 'tank/staged-x': dataset is busy\n"), 'busy');
  assert.equal(zfsFailureOf("cannot destroy 'tank': pool is busy\n"), 'busy');
  assert.equal(zfsFailureOf('connect: No such file or directory\nPlease make sure that the zfs-fuse daemon is running.\ninternal error: failed to initialize ZFS library\n'), 'no-zfs');
  assert.equal(zfsFailureOf("The ZFS modules are not loaded.\nTry running '/sbin/modprobe zfs' as root to load them.\n"), 'no-zfs');
  assert.equal(zfsFailureOf("cannot create 'tank/a': out of space\n"), 'no-space');
  assert.equal(zfsFailureOf("cannot create 'tank/a': permission denied\n"), 'permission');
  assert.equal(zfsFailureOf("cannot set property for 'tank/a': invalid property 'x'\n"), 'other');
});
