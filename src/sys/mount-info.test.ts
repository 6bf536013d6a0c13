import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isShibafuError } from '../errors.js';
import { isMountPoint, mountAt, parseMountInfo, readMountInfo, unescapeMountField } from './mount-info.js';

const SAMPLE = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard',
  '36 22 98:0 /mnt1 /mnt/my\\040disk rw,noatime master:1 propagate_from:2 - ext3 /dev/with\\040space rw,errors=continue',
  '40 22 0:39 / /var/lib/shibafu/merged ro,relatime - overlay shibafu ro,lowerdir+=/a\\054b,lowerdir+=/c',
  '41 22 0:40 / /tab\\011and\\012newline\\134back rw - tmpfs tmpfs rw',
  '',
].join('\n');

test('parseMountInfo reads every field of each line', () => {
  const entries = parseMountInfo(SAMPLE);
  assert.equal(entries.length, 4);
  assert.deepEqual(entries[0], {
    mountId: 22,
    parentId: 1,
    majorMinor: '8:1',
    root: '/',
    mountPoint: '/',
    options: 'rw,relatime',
    optionalFields: ['shared:1'],
    fsType: 'ext4',
    source: '/dev/vda',
    superOptions: 'rw,discard',
  });
});

test('parseMountInfo undoes \\040-style escapes in paths and sources', () => {
  const [, disk, overlay, odd] = parseMountInfo(SAMPLE);
  assert.equal(disk?.mountPoint, '/mnt/my disk');
  assert.equal(disk?.root, '/mnt1');
  assert.equal(disk?.source, '/dev/with space');
  assert.deepEqual(disk?.optionalFields, ['master:1', 'propagate_from:2']);
  assert.equal(odd?.mountPoint, '/tab\tand\nnewline\\back');
  // Option values stay escaped: a comma inside a path must not split the option list.
  assert.equal(overlay?.superOptions, 'ro,lowerdir+=/a\\054b,lowerdir+=/c');
  assert.deepEqual(overlay?.optionalFields, []);
  assert.equal(overlay?.fsType, 'overlay');
  assert.equal(overlay?.source, 'shibafu');
});

test('unescapeMountField leaves text without escapes alone', () => {
  assert.equal(unescapeMountField('/plain/path'), '/plain/path');
  assert.equal(unescapeMountField('a\\040b\\134'), 'a b\\');
  assert.equal(unescapeMountField('\\12x'), '\\12x'); // not three octal digits: not an escape
});

test('parseMountInfo refuses a line without the "-" separator', () => {
  assert.throws(() => parseMountInfo('22 1 8:1 / / rw shared:1 ext4 /dev/vda rw\n'), (err) => isShibafuError(err, 'INTERNAL'));
  assert.throws(() => parseMountInfo('x 1 8:1 / / rw - ext4 /dev/vda rw\n'), (err) => isShibafuError(err, 'INTERNAL'));
});

test('readMountInfo sees / and /proc; isMountPoint tells mount points from plain dirs', () => {
  const entries = readMountInfo();
  assert.ok(entries.some((e) => e.mountPoint === '/'));
  assert.equal(mountAt('/proc', entries)?.fsType, 'proc');
  assert.equal(isMountPoint('/proc'), true);
  assert.equal(isMountPoint('/proc/self'), false);
  assert.equal(isMountPoint('/no/such/path/anywhere'), false);
});
