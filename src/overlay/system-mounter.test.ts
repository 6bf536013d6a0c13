/**
 * dirInUse on mount tables as the kernel prints them (no root, no mounts: the directories only
 * need to exist, for realpath).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseMountInfo } from '../sys/mount-info.js';
import { dirInUse } from './system-mounter.js';

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'shibafu-dir-in-use-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a bind of a btrfs subvolume is found by the mount device, not by the subvolume\'s own st_dev', (t) => {
  const fsRoot = scratch(t);
  const subvolume = join(fsRoot, 'snapshots', '7');
  const sibling = join(fsRoot, 'snapshots', '8');
  mkdirSync(subvolume, { recursive: true });
  mkdirSync(sibling);
  // As measured on a btrfs loop mount: both lines say 0:46, while stat() of the subvolume says
  // 0:48 and of the top level 0:47. The test's dirs are on whatever tmpdir is, whose st_dev is
  // not 0:46 either: only the mount's device can match.
  const entries = parseMountInfo([
    `53 27 0:46 / ${fsRoot} rw,relatime - btrfs /dev/loop0 rw,space_cache=v2,subvolid=5,subvol=/`,
    `52 53 0:46 /snapshots/7 /run/c1/rootfs rw,relatime - btrfs /dev/loop0 rw,space_cache=v2,subvolid=256,subvol=/snapshots/7`,
  ].join('\n'));
  assert.equal(dirInUse(subvolume, entries), true, 'the bound subvolume is in use');
  assert.equal(dirInUse(sibling, entries), false, 'its sibling is not');
  assert.equal(dirInUse(join(fsRoot, 'snapshots'), entries), false, 'nor its parent');
});

test('a bind with the same root on another file system does not count', (t) => {
  const fsRoot = scratch(t);
  const dir = join(fsRoot, 'snapshots', '7');
  mkdirSync(dir, { recursive: true });
  const entries = parseMountInfo([
    `53 27 0:46 / ${fsRoot} rw,relatime - btrfs /dev/loop0 rw,subvol=/`,
    `60 27 0:50 /snapshots/7 /run/c1/rootfs rw,relatime - btrfs /dev/loop1 rw,subvol=/snapshots/7`,
  ].join('\n'));
  assert.equal(dirInUse(dir, entries), false);
});

test('a file system mounted from a subvolume other than the top level: the root names the path from the top', (t) => {
  const fsRoot = scratch(t);
  const dir = join(fsRoot, '7');
  mkdirSync(dir);
  // The store's fs is mounted with subvol=/store: its dir 7 is /store/7 inside the file system.
  const entries = parseMountInfo([
    `53 27 0:46 /store ${fsRoot} rw,relatime - btrfs /dev/loop0 rw,subvolid=256,subvol=/store`,
    `61 27 0:46 /store/7 /run/c1/rootfs ro,relatime - btrfs /dev/loop0 rw,subvolid=257,subvol=/store/7`,
  ].join('\n'));
  assert.equal(dirInUse(dir, entries), true);
});

test('a lower named relative to the legacy mount\'s working directory counts wherever a dir of that name is', (t) => {
  const fsRoot = scratch(t);
  const lower = join(fsRoot, 'snapshots', '12');
  const other = join(fsRoot, 'snapshots', '2');
  const upper = join(fsRoot, 'snapshots', '30');
  mkdirSync(lower, { recursive: true });
  mkdirSync(other);
  mkdirSync(upper);
  // As the kernel prints a mount(2) made with cwd = the storage root: the lowers as given.
  const entries = parseMountInfo([
    `70 27 0:60 / /run/m1 ro,relatime - overlay overlay ro,lowerdir=12:5,redirect_dir=off`,
    `71 27 0:61 / /run/m2 rw,relatime - overlay overlay rw,lowerdir=7,upperdir=${upper},workdir=${fsRoot}/work/30`,
  ].join('\n'));
  assert.equal(dirInUse(lower, entries), true, 'a relative lower matches the end of the path');
  assert.equal(dirInUse(other, entries), false, '"2" is not the end of "12" as a name');
  assert.equal(dirInUse(upper, entries), true, 'an absolute upper matches itself');
});
