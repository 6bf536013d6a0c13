/**
 * The merged-tree walk and the diff-layer plan on the in-memory fake (no root). The real-kernel
 * property test (test/diff-layers-property.test.ts) proves the plan on random trees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planDiffLayer } from './diff-plan.js';
import { FakeTreeFs } from './fake-tree-fs.js';
import { diffTrees } from './tree-diff.js';
import { DIR_LAYER_FORMAT, OVERLAY_LAYER_FORMAT } from '../format/layer-format.js';
import { compareNames, dirView, layersView } from './tree-view.js';

function diff(fs: FakeTreeFs) {
  return diffTrees(fs, dirView(fs, '/a'), dirView(fs, '/b'));
}

function lines(fs: FakeTreeFs): string[] {
  return diff(fs).changes.map((c) => `${c.kind} ${c.path} ${c.oldSize ?? '-'}/${c.newSize ?? '-'}`);
}

function trees(): FakeTreeFs {
  const fs = new FakeTreeFs().dir('/a').dir('/b');
  for (const root of ['/a', '/b']) {
    fs.file(`${root}/etc/passwd`, 'root\n').file(`${root}/usr/bin/sh`, Buffer.alloc(300)).file(`${root}/var/log/x`, 'log').file(`${root}/var/keep`, '');
  }
  return fs;
}

test('equal trees have no changes; equal files of equal size are compared by content', () => {
  const fs = trees();
  assert.deepEqual(lines(fs), []);
  assert.equal(fs.contentReads, 3);
});

test('the sameFile hint skips reading files known to be one inode', () => {
  const fs = trees();
  assert.deepEqual(diffTrees(fs, dirView(fs, '/a'), dirView(fs, '/b'), { sameFile: () => true }).changes, []);
  assert.equal(fs.contentReads, 0);
});

test('added, changed and deleted paths, a deleted directory with its subtree size, parents C', () => {
  const fs = trees().file('/b/etc/passwd', 'root\nbin\n').file('/b/etc/motd', 'hi').remove('/b/var/log').remove('/b/usr/bin/sh');
  assert.deepEqual(lines(fs), ['C /etc 0/0', 'A /etc/motd -/2', 'C /etc/passwd 5/9', 'C /usr/bin 0/0', 'D /usr/bin/sh 300/-', 'C /var 0/0', 'D /var/log 3/-']);
});

test('an added directory lists its entries; a type change is C and the new entries A', () => {
  const fs = trees().remove('/b/var/log').file('/b/var/log', 'now a file').file('/b/new/deep/f', 'f');
  assert.deepEqual(lines(fs), ['A /new -/0', 'A /new/deep -/0', 'A /new/deep/f -/1', 'C /var/log 3/10']);
});

test('hard links: a changed link group is C even when content and attributes are equal', () => {
  const fs = trees().file('/a/h1', 'same').file('/a/h2', 'same').file('/b/h1', 'same').link('/b/h2', '/b/h1');
  const d = diff(fs);
  assert.deepEqual(d.changes.map((c) => `${c.kind} ${c.path}`), ['C /h1', 'C /h2']);
  assert.deepEqual(d.linkGroups, [['h1', 'h2']]);
});

test('plan: whiteouts for deletions, copies, parents as directories, link groups linked', () => {
  const fs = trees().file('/b/etc/motd', 'hi').remove('/b/var/log').file('/b/usr/l1', 'L').link('/b/usr/l2', '/b/usr/l1')
    .file('/a/usr/l1', 'L').file('/a/usr/l2', 'L');
  assert.deepEqual(planDiffLayer(diff(fs)), [
    { op: 'dir', path: 'etc', opaque: false },
    { op: 'copy', path: 'etc/motd' },
    { op: 'dir', path: 'usr', opaque: false },
    { op: 'copy', path: 'usr/l1' },
    { op: 'link', path: 'usr/l2', target: 'usr/l1' },
    { op: 'dir', path: 'var', opaque: false },
    { op: 'whiteout', path: 'var/log' },
  ]);
});

test('plan: a directory none of whose old entries survive becomes opaque, without whiteouts', () => {
  const fs = trees().remove('/b/var/log/x').file('/b/var/log/y', 'new').file('/b/var/log/z', 'new');
  assert.deepEqual(planDiffLayer(diff(fs)), [
    { op: 'dir', path: 'var', opaque: false },
    { op: 'dir', path: 'var/log', opaque: true },
    { op: 'copy', path: 'var/log/y' },
    { op: 'copy', path: 'var/log/z' },
  ]);
});

test('plan: copying one name of a B link group copies the whole group', () => {
  const fs = trees().file('/a/k1', 'old').link('/a/k2', '/a/k1').file('/b/k1', 'new').link('/b/k2', '/b/k1').link('/b/etc/k3', '/b/k1');
  const ops = planDiffLayer(diff(fs)).map((o) => (o.op === 'link' ? `link ${o.path}>${o.target}` : `${o.op} ${o.path}`));
  assert.deepEqual(ops, ['dir etc', 'copy etc/k3', 'link k1>etc/k3', 'link k2>etc/k3']);
});

test('names sort in UTF-8 byte order without encoding them (surrogates after U+E000-FFFF)', () => {
  const names = ['b', 'a', '\u{1F600}', '\uFF21', 'é', 'a-b', 'a.b', ''];
  const bytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual([...names].sort(compareNames), bytes);
  assert.deepEqual(bytes.at(-1), '\u{1F600}');
});

test('layersView: overlay merges the stack (whiteouts hide), dir shows the top full tree alone', () => {
  const fs = new FakeTreeFs().dir('/top').dir('/base');
  fs.file('/base/etc/passwd', 'root\n').file('/base/etc/hosts', 'localhost\n').file('/base/old', 'o');
  fs.file('/top/etc/passwd', 'root\nme\n').whiteout('/top/etc/hosts').file('/top/new', 'n');
  const overlay = layersView(fs, OVERLAY_LAYER_FORMAT, ['/top', '/base']);
  assert.deepEqual(overlay.list(''), ['etc', 'new', 'old']);
  assert.deepEqual(overlay.list('etc'), ['passwd']);
  assert.equal(overlay.lookup('etc/hosts'), null);
  assert.equal(overlay.lookup('etc/passwd')?.path, '/top/etc/passwd');
  const dir = layersView(fs, DIR_LAYER_FORMAT, ['/top', '/base']);
  assert.deepEqual(dir.list(''), ['etc', 'new']);
  assert.deepEqual(dir.list('etc'), ['hosts', 'passwd']); // in a dir tree a 0/0 device is only a device
  assert.equal(dir.lookup('old'), null);
  assert.equal(layersView(fs, DIR_LAYER_FORMAT, []).lookup(''), null);
});
