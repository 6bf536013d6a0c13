import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statfsSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyFileRange } from './copy-file-range.js';
import { copyFile, probeCopyMethod } from './copy-file.js';
import { ficlone } from './ficlone.js';
import { isSysError } from './sys-error.js';

const EXT4_MAGIC = 0xef53;
const NOT_ROOT = process.getuid?.() === 0 ? false : 'needs root (loop mounts); CI runs this suite as root';
const HAS_MKFS_BTRFS = spawnSync('mkfs.btrfs', ['--version']).status === 0;

function scratch(t: { after: (fn: () => void) => void }, parent = tmpdir()): string {
  const dir = mkdtempSync(join(parent, 'shibafu-copy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('copies on ext4 (no reflinks)', { skip: statfsSync(tmpdir()).type === EXT4_MAGIC ? false : `${tmpdir()} is not ext4` }, async (t) => {
  const dir = scratch(t);
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const src = join(dir, 'src');
  writeFileSync(src, data);

  await t.test('ficlone fails with EOPNOTSUPP (Node: ENOTSUP)', () => {
    const s = openSync(src, 'r');
    const d = openSync(join(dir, 'clone'), 'w');
    try {
      assert.throws(() => ficlone(d, s), (err) => isSysError(err, 'ENOTSUP'));
    } finally {
      closeSync(s);
      closeSync(d);
    }
  });

  await t.test('probeCopyMethod says copy_file_range and leaves no scratch file', () => {
    const probeDir = join(dir, 'probe');
    mkdirSync(probeDir);
    assert.equal(probeCopyMethod(probeDir), 'copy_file_range');
    assert.deepEqual(readdirSync(probeDir), []);
  });

  await t.test('copyFile copies content and exact mode with copy_file_range', () => {
    const dst = join(dir, 'dst');
    const oldMask = process.umask(0o077);
    try {
      assert.equal(copyFile(src, dst, 0o4755), 'copy_file_range');
    } finally {
      process.umask(oldMask);
    }
    assert.deepEqual(readFileSync(dst), data);
    assert.equal(lstatSync(dst).mode & 0o7777, 0o4755);
  });

  await t.test('copyFile refuses an existing destination and a symlink source', () => {
    assert.throws(() => copyFile(src, join(dir, 'dst'), 0o644), (err) => isSysError(err, 'EEXIST'));
    symlinkSync(src, join(dir, 'link'));
    assert.throws(() => copyFile(join(dir, 'link'), join(dir, 'fromlink'), 0o644), (err) => isSysError(err, 'ELOOP'));
    assert.throws(() => lstatSync(join(dir, 'fromlink')), (err) => isSysError(err, 'ENOENT'));
  });

  await t.test('copyFileRange copies the length asked, and stops at the end of the source', () => {
    const s = openSync(src, 'r');
    const d = openSync(join(dir, 'range'), 'w');
    try {
      assert.equal(copyFileRange(s, d, 1000), 1000);
      assert.equal(copyFileRange(s, d, data.length), data.length - 1000);
    } finally {
      closeSync(s);
      closeSync(d);
    }
    assert.deepEqual(readFileSync(join(dir, 'range')), data);
  });
});

test('copies on btrfs (reflinks)', { skip: NOT_ROOT || (HAS_MKFS_BTRFS ? false : 'mkfs.btrfs missing (apt-get install btrfs-progs)') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-btrfs-'));
  const image = join(dir, 'btrfs.img');
  const mnt = join(dir, 'mnt');
  // One hook, in order: node:test runs after() hooks in the order they were added.
  t.after(() => {
    spawnSync('umount', [mnt]);
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(mnt);
  execFileSync('truncate', ['-s', '300M', image]);
  execFileSync('mkfs.btrfs', ['-q', image]);
  execFileSync('mount', ['-o', 'loop', image, mnt]);
  const data = randomBytes(1024 * 1024);
  const src = join(mnt, 'src');
  writeFileSync(src, data);

  await t.test('probeCopyMethod says reflink', () => {
    assert.equal(probeCopyMethod(mnt), 'reflink');
  });

  await t.test('copyFile reflinks, and the copy shares its extents with the source', () => {
    const dst = join(mnt, 'dst');
    assert.equal(copyFile(src, dst, 0o600), 'reflink');
    assert.deepEqual(readFileSync(dst), data);
    const extents = execFileSync('filefrag', ['-s', '-v', dst], { encoding: 'utf8' });
    assert.match(extents, /shared/, extents);
  });

  await t.test('a source on another file system falls back to a plain copy', () => {
    const outside = join(dir, 'outside');
    writeFileSync(outside, data);
    assert.equal(copyFile(outside, join(mnt, 'from-ext4'), 0o644), 'copy');
    assert.deepEqual(readFileSync(join(mnt, 'from-ext4')), data);
  });
});
