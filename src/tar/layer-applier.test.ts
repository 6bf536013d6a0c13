import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LayerApplier, type ApplyPorts } from './layer-applier.js';
import type { ApplyOp, Attrs } from './apply-op.js';
import { futimens, lutimens } from '../sys/utimens.js';
import { mknod } from '../sys/mknod.js';
import { lgetxattr, lsetxattr } from '../sys/xattr.js';

const isRoot = process.geteuid?.() === 0;
const ports: ApplyPorts = {
  mknod: () => { throw new Error('mknod is not used here'); },
  lsetxattr: () => { throw new Error('lsetxattr is not used here'); },
  futimens,
  lutimens,
};
const mtime = { sec: 1_600_000_000, nsec: 0 };
const attrs = (mode: number, uid: number, gid: number): Attrs => ({ mode, uid, gid, mtime, xattrs: [] });

function applyAll(ops: { op: ApplyOp; data?: string }[]): string {
  const root = fs.mkdtempSync(join(tmpdir(), 'layer-applier-test-'));
  const a = new LayerApplier(root, ports, { maxEntries: 1000 }, null);
  for (const { op, data } of ops) {
    a.apply(op);
    if (data !== undefined) a.data(Buffer.from(data));
    a.endEntry();
  }
  a.finish();
  return root;
}

const file = (path: string, mode: number, uid: number, gid: number): { op: ApplyOp; data: string } =>
  ({ op: { op: 'file', parts: path.split('/'), attrs: attrs(mode, uid, gid), size: 2 }, data: 'hi' });
const dir = (path: string, mode: number, uid: number, gid: number): { op: ApplyOp } =>
  ({ op: { op: 'dir', parts: path.split('/'), attrs: attrs(mode, uid, gid) } });

test('files get their exact owner whatever the directory would give them (setgid, other groups)', { skip: isRoot ? false : 'needs root (chown)' }, () => {
  const root = applyAll([
    dir('g', 0o2775, 0, 5),
    file('g/f', 0o644, 0, 0), // a setgid dir of group 5 would give it group 5 without fchown
    file('g/sub/h', 0o600, 0, 0), // an implicit dir under a setgid dir inherits group 5 and setgid
    dir('p', 0o755, 0, 0),
    file('p/f', 0o644, 0, 0),
    file('p/o', 0o4755, 1000, 1000),
    dir('q', 0o755, 0, 7),
    file('q/f', 0o640, 0, 0),
    dir('g/d', 0o755, 0, 0), // a setgid parent would give it group 5 and setgid without lchown/chmod
    file('top', 0o644, 0, 0),
    dir('p', 0o2755, 0, 9), // directory over directory: now setgid, group 9
    file('p/later', 0o644, 0, 0),
  ]);
  try {
    const own = (p: string): [number, number, number] => {
      const st = fs.lstatSync(join(root, p));
      return [st.uid, st.gid, st.mode & 0o7777];
    };
    assert.deepEqual(own('g'), [0, 5, 0o2775]);
    assert.deepEqual(own('g/f'), [0, 0, 0o644]);
    assert.deepEqual(own('g/sub/h'), [0, 0, 0o600]);
    assert.deepEqual(own('p/f'), [0, 0, 0o644]);
    assert.deepEqual(own('p/o'), [1000, 1000, 0o4755]);
    assert.deepEqual(own('q/f'), [0, 0, 0o640]);
    assert.deepEqual(own('g/d'), [0, 0, 0o755]);
    assert.deepEqual(own('top'), [0, 0, 0o644]);
    assert.deepEqual(own('p'), [0, 9, 0o2755]);
    assert.deepEqual(own('p/later'), [0, 0, 0o644]);
    assert.equal(fs.readFileSync(join(root, 'g/f'), 'utf8'), 'hi');
    assert.equal(fs.lstatSync(join(root, 'g/f')).mtimeMs, mtime.sec * 1000);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('files and directories get their exact mode whatever the umask', { skip: isRoot ? false : 'needs root (chown)' }, () => {
  // The test may change process state; the library must not (it reads nothing but what it creates).
  const old = process.umask(0o077);
  let root = '';
  try {
    root = applyAll([
      file('a/one', 0o644, 0, 0),
      file('a/two', 0o644, 0, 0),
      file('a/exe', 0o755, 0, 0),
      file('a/none', 0o000, 0, 0),
      file('b/sticky', 0o1644, 0, 0),
      // Directories born with their final owner are made with their final mode: umask must not stick.
      dir('d1', 0o755, 0, 0),
      dir('d2', 0o755, 0, 0),
      dir('d2/x', 0o775, 0, 0),
      dir('d3', 0o1777, 0, 0),
      dir('d4', 0o700, 1000, 1000),
    ]);
  } finally {
    process.umask(old);
  }
  try {
    const mode = (p: string): number => fs.lstatSync(join(root, p)).mode & 0o7777;
    assert.equal(mode('a/one'), 0o644);
    assert.equal(mode('a/two'), 0o644);
    assert.equal(mode('a/exe'), 0o755);
    assert.equal(mode('a/none'), 0o000);
    assert.equal(mode('b/sticky'), 0o1644);
    assert.equal(mode('d1'), 0o755);
    assert.equal(mode('d2'), 0o755);
    assert.equal(mode('d2/x'), 0o775);
    assert.equal(mode('d3'), 0o1777);
    assert.equal(mode('d4'), 0o700);
    assert.equal(fs.lstatSync(join(root, 'd4')).uid, 1000);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

// Past BACKGROUND_AFTER (512) plain small files, an applier writes them on a second thread
// (background-files.ts). The files below are the current user's, so they are plain as any user.
const me = { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 };
const MODES = [0o644, 0o600, 0o755, 0o640];
const bulkName = (i: number): string => `bulk/d${i % 10}/f${i}`;
const bulkContent = (i: number): string => `file ${i}\n`.repeat((i % 7) + 1);

/** 10 dirs, then `n` small files with four modes: enough to start the thread. */
function bulkOps(n: number): { op: ApplyOp; data?: string | Buffer }[] {
  const ops: { op: ApplyOp; data?: string | Buffer }[] = [dir('bulk', 0o755, me.uid, me.gid)];
  for (let d = 0; d < 10; d++) ops.push(dir(`bulk/d${d}`, 0o755, me.uid, me.gid));
  for (let i = 0; i < n; i++) {
    const data = bulkContent(i);
    ops.push({ op: { op: 'file', parts: bulkName(i).split('/'), attrs: attrs(MODES[i % 4] as number, me.uid, me.gid), size: data.length }, data });
  }
  return ops;
}

/** Applies `ops` (content given in two chunks, as a stream may split it); returns the applier too. */
function applyOps(root: string, ops: { op: ApplyOp; data?: string | Buffer }[], withPorts: ApplyPorts = ports): LayerApplier {
  const a = new LayerApplier(root, withPorts, { maxEntries: 100_000 }, null);
  try {
    for (const { op, data } of ops) {
      a.apply(op);
      if (data !== undefined) {
        const bytes = Buffer.from(data);
        a.data(bytes.subarray(0, bytes.length >> 1));
        a.data(bytes.subarray(bytes.length >> 1));
      }
      a.endEntry();
    }
    a.finish();
  } catch (err) {
    a.abort();
    throw err;
  }
  return a;
}

const tempRoot = (t: { after(fn: () => void): void }): string => {
  const root = fs.mkdtempSync(join(tmpdir(), 'layer-applier-bg-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
};

test('whiteouts only where the layers below show the path; none under a directory this layer made opaque', { skip: isRoot ? false : 'needs root (mknod, trusted.* xattrs)' }, (t) => {
  const root = tempRoot(t);
  const below = new Set(['etc/gone', 'opt/x', 'opt/sub/y', 'var', 'usr/z']);
  const asked: string[] = [];
  const withMarks: ApplyPorts = { ...ports, mknod, lsetxattr };
  const wh = (path: string): { op: ApplyOp } => ({ op: { op: 'whiteout', parts: path.split('/') } });
  const a = new LayerApplier(root, withMarks, { maxEntries: 1000 }, { has: (parts) => { asked.push(parts.join('/')); return below.has(parts.join('/')); } });
  for (const { op } of [
    wh('etc/gone'), wh('etc/nothing'), wh('newdir/x'),
    wh('opt/x'), wh('opt/sub/y'), { op: { op: 'opaque', dirParts: ['opt'] } as ApplyOp },
    wh('var'), dir('var', 0o755, me.uid, me.gid),
    wh('usr/z'),
  ]) {
    a.apply(op);
    a.endEntry();
  }
  a.finish();
  const kind = (rel: string): string => {
    try {
      const st = fs.lstatSync(join(root, rel));
      return st.isCharacterDevice() && st.rdev === 0 ? 'whiteout' : st.isDirectory() ? 'dir' : 'other';
    } catch {
      return 'none';
    }
  };
  assert.deepEqual(asked.sort(), ['etc/gone', 'etc/nothing', 'newdir/x', 'opt/sub/y', 'opt/x', 'usr/z', 'var']);
  assert.deepEqual(['etc/gone', 'etc/nothing', 'newdir', 'opt/x', 'opt/sub/y', 'var', 'usr/z'].map(kind),
    ['whiteout', 'none', 'none', 'none', 'none', 'dir', 'whiteout']);
  // The directory that replaced this layer's whiteout hides the lower one: opaque.
  assert.equal(lgetxattr(join(root, 'var'), 'trusted.overlay.opaque')?.toString(), 'y');
  // A layer on nothing makes none at all.
  const bare = tempRoot(t);
  applyOps(bare, [wh('etc/gone'), wh('top')], withMarks);
  assert.deepEqual(fs.readdirSync(bare), []);
  // Hiding nothing or not, a whiteout below the archive's own symlink is an entry below a non-directory.
  const link = { op: { op: 'symlink', parts: ['link'], target: '/etc', attrs: attrs(0o777, me.uid, me.gid) } as ApplyOp };
  assert.throws(() => applyOps(tempRoot(t), [link, wh('link/passwd')], withMarks),
    (e: { code?: string; message?: string }) => e.code === 'PATH_CONFLICT' && e.message === 'Cannot import "link/passwd": "link" is not a directory in this archive');
});

test('a hardlink to a symlink of the archive links the symlink itself, never what it points at', (t) => {
  const root = tempRoot(t);
  const outside = fs.mkdtempSync(join(tmpdir(), 'layer-applier-outside-'));
  t.after(() => fs.rmSync(outside, { recursive: true, force: true }));
  fs.writeFileSync(join(outside, 'target'), 'outside\n');
  const link = (path: string, target: string): { op: ApplyOp } => ({ op: { op: 'hardlink', parts: path.split('/'), targetParts: target.split('/') } });
  applyOps(root, [
    { op: { op: 'symlink', parts: ['bin', 'sh'], target: join(outside, 'target'), attrs: attrs(0o777, me.uid, me.gid) } },
    link('bin/ash', 'bin/sh'),
    link('usr/ash', 'bin/sh'),
  ]);
  const sh = fs.lstatSync(join(root, 'bin/sh'));
  for (const rel of ['bin/ash', 'usr/ash']) {
    const st = fs.lstatSync(join(root, rel));
    assert.ok(st.isSymbolicLink(), rel);
    assert.equal(st.ino, sh.ino, rel);
    assert.equal(fs.readlinkSync(join(root, rel)), join(outside, 'target'));
  }
  assert.equal(sh.nlink, 3);
  assert.equal(fs.statSync(join(outside, 'target')).nlink, 1, 'the file the symlink names got no link');
  // What still is no target: a directory, a whiteout's path, a name not (yet) in the archive.
  assert.throws(() => applyOps(tempRoot(t), [dir('d', 0o755, me.uid, me.gid), link('h', 'd')]), /"d" is neither a regular file nor a symlink/);
  assert.throws(() => applyOps(tempRoot(t), [link('h', 's')]), (e: { code?: string }) => e.code === 'LINK_UNSAFE');
});

test('a sparse file is sized first and its data written at the map\'s offsets: the holes stay holes', () => {
  const map = { format: 'gnu' as const, realSize: 64 << 20, offsets: [0, 8 << 20, 40 << 20, 64 << 20], sizes: [5000, 4096, 3, 0] };
  const root = fs.mkdtempSync(join(tmpdir(), 'layer-applier-test-'));
  try {
    const a = new LayerApplier(root, ports, { maxEntries: 1000 }, null);
    const uid = process.geteuid?.() ?? 0;
    const gid = process.getegid?.() ?? 0;
    a.apply({ op: 'sparse', parts: ['d', 'disk.img'], attrs: attrs(0o640, uid, gid), map });
    // The stored bytes come in chunks that cut across segments.
    const stored = Buffer.concat([Buffer.alloc(5000, 1), Buffer.alloc(4096, 2), Buffer.alloc(3, 3)]);
    for (const cut of [[0, 4000], [4000, 5001], [5001, 9099]]) a.data(stored.subarray(cut[0], cut[1]));
    a.endEntry();
    a.finish();
    const path = join(root, 'd/disk.img');
    const st = fs.statSync(path);
    assert.deepEqual([st.size, st.mode & 0o7777, st.mtimeMs], [64 << 20, 0o640, mtime.sec * 1000]);
    // 9,099 bytes of data: a few blocks, not 64 MiB.
    assert.ok(st.blocks * 512 < 64 * 1024, `${st.blocks} blocks allocated`);
    const content = fs.readFileSync(path);
    const expected = Buffer.alloc(64 << 20);
    expected.fill(1, 0, 5000);
    expected.fill(2, 8 << 20, (8 << 20) + 4096);
    expected.fill(3, 40 << 20, (40 << 20) + 3);
    assert.ok(content.equals(expected));
    assert.equal(a.stats.bytes, stored.length);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('past 512 plain small files, a second thread writes them: exact content, mode and mtime', (t) => {
  const root = tempRoot(t);
  const big = Buffer.alloc((1 << 20) + 1, 7); // larger than a batch: the main thread's
  const ops = bulkOps(1500);
  ops.push({ op: { op: 'file', parts: ['bulk', 'big'], attrs: attrs(0o644, me.uid, me.gid), size: big.length }, data: big });
  ops.push({ op: { op: 'file', parts: ['bulk', 'd0', 'ns'], attrs: { ...attrs(0o644, me.uid, me.gid), mtime: { sec: 1_600_000_000, nsec: 5 } }, size: 2 }, data: 'ns' });
  const a = applyOps(root, ops);
  assert.ok(a.stats.background > 900, `only ${a.stats.background} files went to the thread`);
  assert.equal(a.stats.entries, 1 + 10 + 1500 + 2);
  for (let i = 0; i < 1500; i++) {
    const path = join(root, bulkName(i));
    const st = fs.lstatSync(path, { bigint: true });
    assert.equal(fs.readFileSync(path, 'utf8'), bulkContent(i), path);
    assert.equal(Number(st.mode & 0o7777n), MODES[i % 4], path);
    assert.equal(st.mtimeNs, 1_600_000_000_000_000_000n, path);
    assert.equal(st.atimeNs, 1_600_000_000_000_000_000n, path);
  }
  assert.ok(fs.readFileSync(join(root, 'bulk', 'big')).equals(big));
  assert.equal(fs.lstatSync(join(root, 'bulk', 'd0', 'ns'), { bigint: true }).mtimeNs, 1_600_000_000_000_000_005n);
  // Directory times are set after the thread's files are in: theirs are the archive's.
  assert.equal(fs.lstatSync(join(root, 'bulk', 'd3'), { bigint: true }).mtimeNs, 1_600_000_000_000_000_000n);
});

test('an entry at the path of a queued file sees that file, as without the thread', async (t) => {
  const queued = 'bulk/d0/late'; // after 600 files, in a dir and with a mode seen before: queued
  const late = { op: { op: 'file', parts: queued.split('/'), attrs: attrs(0o644, me.uid, me.gid), size: 4 } as ApplyOp, data: 'late' };
  const cases: { title: string; then: { op: ApplyOp; data?: string }; code?: string; check?: (root: string) => void; root?: true }[] = [
    { title: 'the same file again', then: late, code: 'DUPLICATE_ENTRY' },
    { title: 'a path under it', then: file(`${queued}/child`, 0o644, me.uid, me.gid), code: 'PATH_CONFLICT' },
    { title: 'a directory of its name', then: dir(queued, 0o755, me.uid, me.gid), code: 'DUPLICATE_ENTRY' },
    { title: 'a symlink of its name', then: { op: { op: 'symlink', parts: queued.split('/'), target: 'x', attrs: attrs(0o777, me.uid, me.gid) } }, code: 'DUPLICATE_ENTRY' },
    {
      title: 'its whiteout (the layer\'s own file stays)', then: { op: { op: 'whiteout', parts: queued.split('/') } }, root: true,
      check: (root) => assert.equal(fs.readFileSync(join(root, queued), 'utf8'), 'late'),
    },
    {
      title: 'a hardlink to it', then: { op: { op: 'hardlink', parts: ['bulk', 'link'], targetParts: queued.split('/') } },
      check: (root) => assert.equal(fs.statSync(join(root, 'bulk', 'link')).ino, fs.statSync(join(root, queued)).ino),
    },
  ];
  for (const c of cases) {
    await t.test(c.title, { skip: c.root === true && !isRoot ? 'needs root (mknod)' : false }, (tt) => {
      const root = tempRoot(tt);
      const ops = [...bulkOps(600), late, c.then];
      if (c.code === undefined) {
        const a = applyOps(root, ops, { ...ports, mknod });
        assert.ok(a.stats.background > 0);
        c.check?.(root);
        return;
      }
      assert.throws(() => applyOps(root, ops), (err: { code?: string }) => err.code === c.code);
    });
  }
});
