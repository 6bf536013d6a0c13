import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lstatx } from './statx.js';
import { timespecOf } from './utimens.js';

test('lstatx agrees with Node\'s bigint lstat on every kind of node; null when absent', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-statx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'file'), 'twelve bytes');
  utimesSync(join(dir, 'file'), 1_700_000_000.123, 1_700_000_000.987654);
  mkdirSync(join(dir, 'dir'), 0o751);
  symlinkSync('file', join(dir, 'link'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  // The high words: a sparse file past 4 GiB, an mtime before 1970.
  writeFileSync(join(dir, 'sparse'), '');
  truncateSync(join(dir, 'sparse'), 5 * 2 ** 30 + 7);
  writeFileSync(join(dir, 'old'), 'old');
  execFileSync('touch', ['-d', '@-86400.75', join(dir, 'old')]); // Node's utimes takes a negative time as now
  const paths = [join(dir, 'file'), join(dir, 'dir'), join(dir, 'link'), join(dir, 'fifo'), join(dir, 'sparse'), join(dir, 'old'), '/dev/null', dir];
  if (process.getuid?.() === 0) {
    execFileSync('mknod', [join(dir, 'bigdev'), 'c', '4095', '70000']);
    paths.push(join(dir, 'bigdev'));
  }
  for (const p of paths) {
    const node = lstatSync(p, { bigint: true });
    const ours = lstatx(p);
    const kind = node.isDirectory() ? 'dir' : node.isFile() ? 'file' : node.isSymbolicLink() ? 'symlink' : node.isFIFO() ? 'fifo' : node.isCharacterDevice() ? 'char' : 'other';
    assert.deepEqual(ours, {
      kind, mode: Number(node.mode), uid: Number(node.uid), gid: Number(node.gid), nlink: Number(node.nlink), size: Number(node.size),
      ino: node.ino, dev: node.dev, rdev: Number(node.rdev), mtimeNs: node.mtimeNs,
      atime: timespecOf(node.atimeNs),
    }, p);
  }
  assert.equal(lstatx(join(dir, 'old'))?.mtimeNs, -86_400_750_000_000n);
  assert.equal(lstatx(join(dir, 'sparse'))?.size, 5 * 2 ** 30 + 7);
  assert.equal(lstatx(join(dir, 'missing')), null);
  assert.equal(lstatx(join(dir, 'file', 'under-a-file')), null); // ENOTDIR
  assert.throws(() => lstatx('bad\0name'), (err: { code?: string }) => err.code === 'EINVAL');
});
