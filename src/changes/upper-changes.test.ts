/**
 * GetLayerChanges on the in-memory fake (no root): the rules of change.ts and upper-changes.ts,
 * case by case. test/changes-upper.test.ts runs the same kinds of changes on a real overlay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeTreeFs, sampleImage } from './fake-tree-fs.js';
import { upperChanges } from './upper-changes.js';
import type { Change } from './change.js';
import type { TreeFs } from './tree-fs.js';

const L = ['/l2', '/l1'];

/** One line per change, `KIND path old/new`, for exact comparisons. */
function lines(changes: Change[]): string[] {
  return changes.map((c) => `${c.kind} ${c.path} ${c.oldSize ?? '-'}/${c.newSize ?? '-'}`);
}

const image = (): FakeTreeFs => sampleImage();

test('an empty upper has no changes', () => {
  assert.deepEqual(upperChanges(image(), '/up', L), []);
});

test('add, modify, delete: sizes, and the parents of additions and deletions are C', () => {
  const fs = image()
    .dir('/up/etc').file('/up/etc/passwd', 'root:x:0:0\nbin:x:1:1\n', { mtime: 1_800_000_000 })
    .file('/up/etc/motd', 'hi\n')
    .whiteout('/up/etc/hosts');
  assert.deepEqual(lines(upperChanges(fs, '/up', L)), [
    'C /etc 0/0',
    'D /etc/hosts 20/-',
    'A /etc/motd -/3',
    'C /etc/passwd 11/21',
  ]);
});

test('a deleted directory reports the bytes of its merged subtree in the lowers', () => {
  // /var/cache merges l2 (c: 66 B) over l1 (a: 1000 B; sub/ whited out by l2).
  const fs = image().dir('/up/var').whiteout('/up/var/cache');
  const changes = upperChanges(fs, '/up', L);
  assert.deepEqual(lines(changes), ['C /var 0/0', 'D /var/cache 1066/-']);
  assert.equal(changes[1]?.oldType, 'dir');
});

test('an opaque directory deletes every lower entry it does not have again', () => {
  const fs = image().dir('/up/var').dir('/up/var/cache').opaque('/up/var/cache').file('/up/var/cache/a', Buffer.alloc(1000)).file('/up/var/cache/new', 'n');
  assert.deepEqual(lines(upperChanges(fs, '/up', L)), [
    'C /var/cache 0/0',
    'D /var/cache/c 66/-',
    'A /var/cache/new -/1',
  ]);
});

test('below an opaque directory, a sub-directory hides its lower entries too', () => {
  const fs = new FakeTreeFs().dir('/l1').dir('/up')
    .file('/l1/d/s/keep', 'k').file('/l1/d/s/gone', 'gone!')
    .dir('/up/d').opaque('/up/d').dir('/up/d/s').file('/up/d/s/keep', 'k');
  assert.deepEqual(lines(upperChanges(fs, '/up', ['/l1'])), ['C /d/s 0/0', 'D /d/s/gone 5/-']);
});

test('a copied-up file that did not change is not a change; one that did is, content compared', () => {
  const fs = image().dir('/up/etc').file('/up/etc/passwd', 'root:x:0:0\n').file('/up/etc/hosts', '127.0.0.2 localhost\n');
  assert.deepEqual(lines(upperChanges(fs, '/up', L)), ['C /etc/hosts 20/20']);
  assert.equal(fs.contentReads, 2);
});

test('a copied-up directory is C only when its own attributes differ', () => {
  const fs = image().dir('/up/opt', { mode: 0o700 }).dir('/up/etc');
  assert.deepEqual(lines(upperChanges(fs, '/up', L)), ['C /opt 0/0']);
});

test('mode, owner, mtime, xattr and link-target changes are C', () => {
  const base = new FakeTreeFs().dir('/l1').dir('/up')
    .file('/l1/m', 'x').file('/l1/o', 'x').file('/l1/t', 'x').file('/l1/x', 'x').symlink('/l1/s', 'a');
  const fs = base
    .file('/up/m', 'x', { mode: 0o600 }).file('/up/o', 'x', { uid: 1000 }).file('/up/t', 'x', { mtime: 1 })
    .file('/up/x', 'x', { xattrs: { 'user.k': 'v' } }).symlink('/up/s', 'b');
  assert.deepEqual(lines(upperChanges(fs, '/up', ['/l1'])), ['C /m 1/1', 'C /o 1/1', 'C /s 1/1', 'C /t 1/1', 'C /x 1/1']);
  assert.equal(fs.contentReads, 0, 'attributes differ: no content read');
});

test("overlay's private xattrs (origin, impure) are not changes", () => {
  const fs = image().dir('/up/etc').setXattr('/up/etc', 'trusted.overlay.impure', 'y')
    .file('/up/etc/passwd', 'root:x:0:0\n').setXattr('/up/etc/passwd', 'trusted.overlay.origin', 'fh');
  assert.deepEqual(upperChanges(fs, '/up', L), []);
});

test('a file replaced by a directory, and a directory replaced by a file', () => {
  const fs = image()
    .dir('/up/opt').whiteout('/up/opt/x').dir('/up/opt/x').opaque('/up/opt/x').file('/up/opt/x/inner', 'in')
    .dir('/up/var').file('/up/var/cache', 'now a file');
  const changes = upperChanges(fs, '/up', L);
  assert.deepEqual(lines(changes), ['C /opt/x 1/0', 'A /opt/x/inner -/2', 'C /var/cache 1066/10']);
  assert.deepEqual(changes.map((c) => `${c.oldType}>${c.newType}`), ['file>dir', 'null>file', 'dir>file']);
});

test('a renamed directory (redirect_dir off: copy + whiteout) is D of the old name and A of the new', () => {
  const fs = image().dir('/up/var').whiteout('/up/var/cache').dir('/up/var/moved').opaque('/up/var/moved').file('/up/var/moved/c', Buffer.alloc(66));
  assert.deepEqual(lines(upperChanges(fs, '/up', L)), ['C /var 0/0', 'D /var/cache 1066/-', 'A /var/moved -/0', 'A /var/moved/c -/66']);
});

test('a whiteout of a path the image does not have is no change', () => {
  const fs = image().whiteout('/up/nothing');
  assert.deepEqual(upperChanges(fs, '/up', L), []);
});

test('an upper written with redirect_dir is refused with UNSUPPORTED', () => {
  const redirect = image().dir('/up/new').setXattr('/up/new', 'trusted.overlay.redirect', '/var/cache');
  assert.throws(() => upperChanges(redirect, '/up', L), { code: 'UNSUPPORTED', message: /"\/new" was written with overlay's redirect_dir/ });
});

test('point lookups: only the changed paths are looked up in the lowers', () => {
  const fs = image();
  for (let i = 0; i < 200; i++) fs.file(`/l1/usr/lib/f${i}`, 'x');
  fs.dir('/up/etc').file('/up/etc/motd', 'm');
  let calls = 0;
  const counting: TreeFs = {
    lstat: (p) => { calls++; return fs.lstat(p); },
    readdir: (p) => { calls++; return fs.readdir(p); },
    readlink: (p) => fs.readlink(p),
    xattrNames: (p) => fs.xattrNames(p),
    xattr: (p, n) => fs.xattr(p, n),
    sameContent: (a, b) => fs.sameContent(a, b),
  };
  assert.deepEqual(lines(upperChanges(counting, '/up', L)), ['C /etc 0/0', 'A /etc/motd -/1']);
  assert.ok(calls < 20, `${calls} calls for one change over an image of 200 files`);
});
