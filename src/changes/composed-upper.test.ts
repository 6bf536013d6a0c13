/**
 * composedUpperFs on the in-memory fake: an upper over the changesets its earlier commits moved
 * out of it must list exactly what one upper holding all those changes (what overlay would have
 * left had the container never committed) lists. Each case builds both and compares.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Change } from './change.js';
import { composedUpperFs } from './composed-upper.js';
import { sampleImage, type FakeTreeFs } from './fake-tree-fs.js';
import { upperChanges } from './upper-changes.js';

const L = ['/l2', '/l1'];

function lines(changes: Change[]): string[] {
  return changes.map((c) => `${c.kind} ${c.path} ${c.oldSize ?? '-'}/${c.newSize ?? '-'}`);
}

/** The image of upper-changes.test.ts, and the dirs of two committed changesets. */
function image(): FakeTreeFs {
  return sampleImage().dir('/c1').dir('/c2');
}

/** Changes of `/up` over `/c1` (and `/c2` below it when given) composed, and of `flat` alone. */
function both(composed: FakeTreeFs, flat: FakeTreeFs, committed = ['/c1']): { composed: string[]; flat: string[] } {
  return {
    composed: lines(upperChanges(composedUpperFs(composed, ['/up', ...committed]), '/up', L)),
    flat: lines(upperChanges(flat, '/up', L)),
  };
}

test('an empty upper over a committed changeset lists that changeset\'s changes', () => {
  const r = both(
    image().dir('/c1/etc').file('/c1/etc/motd', 'hi\n').whiteout('/c1/etc/hosts').file('/c1/etc/passwd', 'root:x:0:0\nbin:x:1:1\n', { mtime: 1_800_000_000 }),
    image().dir('/up/etc').file('/up/etc/motd', 'hi\n').whiteout('/up/etc/hosts').file('/up/etc/passwd', 'root:x:0:0\nbin:x:1:1\n', { mtime: 1_800_000_000 }),
  );
  assert.deepEqual(r.composed, ['C /etc 0/0', 'D /etc/hosts 20/-', 'A /etc/motd -/3', 'C /etc/passwd 11/21']);
  assert.deepEqual(r.composed, r.flat);
});

test('the upper wins over the committed changeset: re-added, deleted again, changed again', () => {
  const r = both(
    image()
      .dir('/c1/etc').whiteout('/c1/etc/hosts').file('/c1/new.txt', 'new').file('/c1/etc/passwd', 'one\n', { mtime: 1_800_000_000 })
      .dir('/up/etc').file('/up/etc/hosts', 'back\n', { mtime: 1_800_000_000 }).whiteout('/up/new.txt').file('/up/etc/passwd', 'two!\n', { mtime: 1_800_000_001 }),
    image().dir('/up/etc').file('/up/etc/hosts', 'back\n', { mtime: 1_800_000_000 }).file('/up/etc/passwd', 'two!\n', { mtime: 1_800_000_001 }),
  );
  assert.deepEqual(r.composed, ['C /etc/hosts 20/5', 'C /etc/passwd 11/5']);
  assert.deepEqual(r.composed, r.flat);
});

test('a directory made in the upper over a committed whiteout hides the image\'s entries', () => {
  // The container deleted /var/cache, committed, then made /var/cache again: overlay made the new
  // directory without the opaque xattr (the whiteout below already hides the image), so the
  // composed view must treat it as opaque.
  const r = both(
    image().dir('/c1/var').whiteout('/c1/var/cache').dir('/up/var').dir('/up/var/cache').file('/up/var/cache/z', 'z'),
    image().dir('/up/var').dir('/up/var/cache').opaque('/up/var/cache').file('/up/var/cache/z', 'z'),
  );
  assert.deepEqual(r.composed, ['C /var/cache 0/0', 'D /var/cache/a 1000/-', 'D /var/cache/c 66/-', 'A /var/cache/z -/1']);
  assert.deepEqual(r.composed, r.flat);
});

test('a committed opaque directory stays opaque under an upper directory that merges with it', () => {
  const r = both(
    image().dir('/c1/opt').opaque('/c1/opt').file('/c1/opt/y', 'y').dir('/up/opt').file('/up/opt/w', 'w'),
    image().dir('/up/opt').opaque('/up/opt').file('/up/opt/y', 'y').file('/up/opt/w', 'w'),
  );
  assert.deepEqual(r.composed, ['C /opt 0/0', 'A /opt/w -/1', 'D /opt/x 1/-', 'A /opt/y -/1']);
  assert.deepEqual(r.composed, r.flat);
});

test('two committed changesets and the upper, top first', () => {
  // c2 (first commit) added /a and /d/f; c1 (second) changed /a and deleted /d/f; the upper adds /b.
  const r = both(
    image()
      .file('/c2/a', '1').dir('/c2/d').file('/c2/d/f', 'f')
      .file('/c1/a', '22').dir('/c1/d').whiteout('/c1/d/f')
      .file('/up/b', '333'),
    image().file('/up/a', '22').dir('/up/d').file('/up/b', '333'),
    ['/c1', '/c2'],
  );
  assert.deepEqual(r.composed, ['A /a -/2', 'A /b -/3', 'A /d -/0']);
  assert.deepEqual(r.composed, r.flat);
});

test('a file replaced by a directory in the upper hides nothing of the committed file', () => {
  const r = both(
    image().dir('/c1/etc').file('/c1/etc/conf', 'as a file').dir('/up/etc').dir('/up/etc/conf').file('/up/etc/conf/main', 'm'),
    image().dir('/up/etc').dir('/up/etc/conf').file('/up/etc/conf/main', 'm'),
  );
  assert.deepEqual(r.composed, ['C /etc 0/0', 'A /etc/conf -/0', 'A /etc/conf/main -/1']);
  assert.deepEqual(r.composed, r.flat);
});

test('paths outside the upper pass through to the real port', () => {
  const fake = image().file('/c1/k', 'k');
  const fs = composedUpperFs(fake, ['/up', '/c1']);
  assert.deepEqual(fs.readdir('/l1/etc').sort(), ['hosts', 'passwd']);
  assert.equal(fs.lstat('/up/k')?.size, 1);
  assert.equal(fs.lstat('/c1/k')?.size, 1);
  assert.deepEqual(fs.readdir('/up'), ['k']);
});
