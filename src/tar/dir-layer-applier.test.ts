import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIR_LAYER_FORMAT } from '../format/layer-format.js';
import { mknod } from '../sys/mknod.js';
import { futimens, lutimens } from '../sys/utimens.js';
import { lgetxattr, llistxattr, lremovexattr, lsetxattr } from '../sys/xattr.js';
import type { ApplyOp, Attrs } from './apply-op.js';
import type { DirApplyPorts } from './dir-layer-applier.js';
import { createLayerApplier } from './layer-applier.js';

const isRoot = process.geteuid?.() === 0;
const needsRoot = isRoot ? false : 'needs root (chown, mknod)';
const ports: DirApplyPorts = { mknod, lsetxattr, futimens, lutimens, llistxattr, lremovexattr };
const T = 1_600_000_000;
const attrs = (mode: number, uid = 0, gid = 0, xattrs: [string, string][] = []): Attrs =>
  ({ mode, uid, gid, mtime: { sec: T, nsec: 0 }, xattrs: xattrs.map(([n, v]) => [n, Buffer.from(v)] as const) });

type Step = { op: ApplyOp; data?: string };
const split = (p: string): string[] => (p === '' ? [] : p.split('/'));
const file = (path: string, data: string, mode = 0o644, uid = 0, gid = 0): Step =>
  ({ op: { op: 'file', parts: split(path), attrs: attrs(mode, uid, gid), size: data.length }, data });
const dir = (path: string, mode = 0o755, uid = 0, gid = 0, xattrs: [string, string][] = []): Step =>
  ({ op: { op: 'dir', parts: split(path), attrs: attrs(mode, uid, gid, xattrs) } });
const symlink = (path: string, target: string): Step => ({ op: { op: 'symlink', parts: split(path), target, attrs: attrs(0o777) } });
const hardlink = (path: string, target: string): Step => ({ op: { op: 'hardlink', parts: split(path), targetParts: split(target) } });
const whiteout = (path: string): Step => ({ op: { op: 'whiteout', parts: split(path) } });
const opaque = (path: string): Step => ({ op: { op: 'opaque', dirParts: split(path) } });

/** A parent tree: etc/{passwd,hosts}, opt/app/{bin/run,conf}, var/log (dir), data (file), lib -> usr/lib. */
function parentTree(t: { after(fn: () => void): void }): string {
  const root = fs.mkdtempSync(join(tmpdir(), 'dir-applier-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const d of ['etc', 'opt/app/bin', 'var/log', 'usr/lib']) fs.mkdirSync(join(root, d), { recursive: true });
  fs.writeFileSync(join(root, 'etc/passwd'), 'root\n');
  fs.writeFileSync(join(root, 'etc/hosts'), 'localhost\n');
  fs.writeFileSync(join(root, 'opt/app/bin/run'), 'old run\n');
  fs.writeFileSync(join(root, 'opt/app/conf'), 'old conf\n');
  fs.writeFileSync(join(root, 'var/log/syslog'), 'log\n');
  fs.writeFileSync(join(root, 'data'), 'data\n');
  fs.symlinkSync('usr/lib', join(root, 'lib'));
  return root;
}

function apply(root: string, steps: readonly Step[]): void {
  const a = createLayerApplier({ format: DIR_LAYER_FORMAT, root, ports, limits: { maxEntries: 1000 } });
  try {
    for (const { op, data } of steps) {
      a.apply(op);
      if (data !== undefined) a.data(Buffer.from(data));
      a.endEntry();
    }
    a.finish();
  } catch (err) {
    a.abort();
    throw err;
  }
}

/** path → "type mode uid:gid content-or-target" for every node under root, sorted. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(join(root, rel)).sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, child);
      const st = fs.lstatSync(abs);
      const own = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out[child] = `dir ${own}`;
        walk(child);
      } else if (st.isSymbolicLink()) {
        out[child] = `symlink -> ${fs.readlinkSync(abs)}`;
      } else {
        out[child] = `file ${own} ${fs.readFileSync(abs, 'utf8')}`;
      }
    }
  };
  walk('');
  return out;
}

const PARENT = {
  data: 'file 644 0:0 data\n',
  etc: 'dir 755 0:0',
  'etc/hosts': 'file 644 0:0 localhost\n',
  'etc/passwd': 'file 644 0:0 root\n',
  lib: 'symlink -> usr/lib',
  opt: 'dir 755 0:0',
  'opt/app': 'dir 755 0:0',
  'opt/app/bin': 'dir 755 0:0',
  'opt/app/bin/run': 'file 644 0:0 old run\n',
  'opt/app/conf': 'file 644 0:0 old conf\n',
  usr: 'dir 755 0:0',
  'usr/lib': 'dir 755 0:0',
  var: 'dir 755 0:0',
  'var/log': 'dir 755 0:0',
  'var/log/syslog': 'file 644 0:0 log\n',
};

function without(base: Record<string, string>, ...prefixes: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(base).filter(([p]) => !prefixes.some((x) => p === x || p.startsWith(`${x}/`))));
}

test('dir format: a whiteout deletes the parent\'s dir recursively and its file; a missing name is nothing', { skip: needsRoot }, (t) => {
  const root = parentTree(t);
  apply(root, [whiteout('opt/app'), whiteout('etc/hosts'), whiteout('etc/none'), whiteout('nodir/x'), whiteout('data/x')]);
  assert.deepEqual(tree(root), without(PARENT, 'opt/app', 'etc/hosts'));
});

test('dir format: a whiteout never deletes what this layer wrote, in either order', { skip: needsRoot }, (t) => {
  const root = parentTree(t);
  apply(root, [
    file('etc/new', 'n\n'), whiteout('etc/new'), // the layer's own file and its whiteout: the file stays
    whiteout('etc/passwd'), file('etc/passwd', 'mine\n', 0o600), // the parent's goes, the layer's comes
    dir('opt/app', 0o750), whiteout('opt/app'), file('opt/app/conf', 'new conf\n'), // dir kept, parent's entries gone
  ]);
  assert.deepEqual(tree(root), {
    ...without(PARENT, 'opt/app', 'etc/passwd'),
    'etc/new': 'file 644 0:0 n\n',
    'etc/passwd': 'file 600 0:0 mine\n',
    'opt/app': 'dir 750 0:0',
    'opt/app/conf': 'file 644 0:0 new conf\n',
  });
});

test('dir format: an opaque marker deletes the parent\'s entries of the dir, before or after the layer\'s own', { skip: needsRoot }, (t) => {
  const expected = {
    ...without(PARENT, 'opt/app'),
    'opt/app': 'dir 700 0:0',
    'opt/app/bin': 'dir 755 0:0',
    'opt/app/bin/new': 'file 755 0:0 new\n',
    'opt/app/conf': 'file 644 0:0 conf 2\n',
  };
  const own = [dir('opt/app', 0o700), dir('opt/app/bin'), file('opt/app/bin/new', 'new\n', 0o755), file('opt/app/conf', 'conf 2\n')];
  for (const at of [0, 1, 2, 3, 4]) {
    const root = parentTree(t);
    apply(root, [...own.slice(0, at), opaque('opt/app'), ...own.slice(at)]);
    // bin/run came from the parent: gone even though the layer's own opt/app/bin stays.
    assert.deepEqual(tree(root), expected, `opaque marker at position ${at}`);
  }
});

test('dir format: file over dir, dir over file, dir over dir (kept, new metadata and exactly the new xattrs)', { skip: needsRoot }, (t) => {
  const root = parentTree(t);
  lsetxattr(join(root, 'var/log'), 'user.old', Buffer.from('1'));
  lsetxattr(join(root, 'var/log'), 'user.keep', Buffer.from('old'));
  apply(root, [
    file('opt/app', 'now a file\n'),
    dir('data', 0o711, 1000, 1000),
    file('data/inside', 'x'),
    dir('var/log', 0o2770, 0, 4, [['user.keep', 'new']]),
  ]);
  assert.deepEqual(tree(root), {
    ...without(PARENT, 'opt/app', 'data', 'var/log'),
    'opt/app': 'file 644 0:0 now a file\n',
    data: 'dir 711 1000:1000',
    'data/inside': 'file 644 0:0 x',
    'var/log': 'dir 2770 0:4',
    'var/log/syslog': 'file 644 0:0 log\n',
  });
  assert.deepEqual(llistxattr(join(root, 'var/log')).filter((n) => n.startsWith('user.')), ['user.keep']);
  assert.equal(lgetxattr(join(root, 'var/log'), 'user.keep')?.toString(), 'new');
  assert.equal(fs.lstatSync(join(root, 'var/log')).mtimeMs, T * 1000);
});

test('dir format: a symlink of the parent on the path is replaced, never followed', { skip: needsRoot }, (t) => {
  const root = parentTree(t);
  const outside = fs.mkdtempSync(join(tmpdir(), 'dir-applier-outside-'));
  t.after(() => fs.rmSync(outside, { recursive: true, force: true }));
  fs.writeFileSync(join(outside, 'victim'), 'safe\n');
  fs.symlinkSync(outside, join(root, 'escape'));
  fs.symlinkSync(join(outside, 'victim'), join(root, 'victim-link'));
  apply(root, [
    file('escape/victim', 'pwned\n'), // through a parent's symlink to a dir outside
    file('victim-link', 'pwned\n'), // at a parent's symlink to a file outside
    file('lib/libc.so', 'elf'), // through a parent's relative symlink inside the tree
  ]);
  assert.equal(fs.readFileSync(join(outside, 'victim'), 'utf8'), 'safe\n');
  assert.deepEqual(fs.readdirSync(outside), ['victim']);
  assert.deepEqual(tree(root), {
    ...without(PARENT, 'lib'),
    escape: 'dir 755 0:0',
    'escape/victim': 'file 644 0:0 pwned\n',
    'victim-link': 'file 644 0:0 pwned\n',
    lib: 'dir 755 0:0',
    'lib/libc.so': 'file 644 0:0 elf',
  });
});

test('dir format: writing through the archive\'s own symlink or file is refused', { skip: needsRoot }, (t) => {
  for (const [first, code] of [[symlink('link', '/etc'), 'PATH_CONFLICT'], [file('f', 'x'), 'PATH_CONFLICT']] as const) {
    const root = parentTree(t);
    const through = first.op.op === 'symlink' ? 'link/passwd' : 'f/x';
    assert.throws(() => apply(root, [first, file(through, 'pwned\n')]), (err: { code?: string }) => err.code === code);
    assert.equal(fs.readFileSync('/etc/passwd', 'utf8').includes('pwned'), false);
  }
});

test('dir format: hardlinks only to a file or symlink this layer wrote', { skip: needsRoot }, (t) => {
  const root = parentTree(t);
  assert.throws(() => apply(root, [hardlink('etc/shadow', 'etc/passwd')]), (err: { code?: string; message?: string }) => {
    assert.equal(err.code, 'LINK_UNSAFE');
    assert.equal(err.message, 'Cannot import hardlink "etc/shadow": its target "etc/passwd" is not a file of this archive');
    return true;
  });
  const root2 = parentTree(t);
  assert.throws(() => apply(root2, [hardlink('x', 'lib/libc.so')]), (err: { code?: string }) => err.code === 'LINK_UNSAFE');
  const root3 = parentTree(t);
  apply(root3, [file('etc/a', 'A'), hardlink('data', 'etc/a')]);
  assert.equal(fs.statSync(join(root3, 'data')).ino, fs.statSync(join(root3, 'etc/a')).ino);
  assert.equal(fs.statSync(join(root3, 'data')).nlink, 2);
  // A symlink this layer wrote: linked itself (the parent's `lib` symlink is still no target).
  const root4 = parentTree(t);
  apply(root4, [symlink('bin/sh', '/etc/passwd'), hardlink('bin/ash', 'bin/sh')]);
  const [sh, ash] = ['bin/sh', 'bin/ash'].map((p) => fs.lstatSync(join(root4, p)));
  assert.ok(ash!.isSymbolicLink());
  assert.deepEqual([ash!.ino, ash!.nlink], [sh!.ino, 2]);
  assert.equal(fs.statSync('/etc/passwd').nlink, 1);
  assert.throws(() => apply(parentTree(t), [hardlink('x', 'lib')]), (err: { code?: string }) => err.code === 'LINK_UNSAFE');
});

test('dir format: a sparse file replaces the parent\'s file, sized with holes, its data at the map\'s offsets', { skip: needsRoot }, (t) => {
  const root = parentTree(t);
  const map = { format: 'pax-0.1' as const, realSize: 16 << 20, offsets: [1 << 20, 16 << 20], sizes: [6, 0] };
  const a = createLayerApplier({ format: DIR_LAYER_FORMAT, root, ports, limits: { maxEntries: 1000 } });
  a.apply({ op: 'sparse', parts: ['data'], attrs: attrs(0o600, 7, 8), map });
  a.data(Buffer.from('abc'));
  a.data(Buffer.from('def'));
  a.endEntry();
  a.finish();
  const st = fs.statSync(join(root, 'data'));
  assert.deepEqual([st.size, st.mode & 0o7777, st.uid, st.gid], [16 << 20, 0o600, 7, 8]);
  assert.ok(st.blocks * 512 <= 64 * 1024, `${st.blocks} blocks allocated`);
  const fd = fs.openSync(join(root, 'data'), 'r');
  const buf = Buffer.alloc(8);
  fs.readSync(fd, buf, 0, 8, (1 << 20) - 1);
  fs.closeSync(fd);
  assert.deepEqual(buf, Buffer.from('\0abcdef\0'));
});

test('dir format: a path twice is DUPLICATE_ENTRY, a directory twice takes the later attributes', { skip: needsRoot }, (t) => {
  const root = parentTree(t);
  assert.throws(() => apply(root, [file('etc/x', 'a'), file('etc/x', 'b')]), (err: { code?: string }) => err.code === 'DUPLICATE_ENTRY');
  const root2 = parentTree(t);
  apply(root2, [dir('new', 0o700), dir('new', 0o750, 3, 3)]);
  assert.equal(tree(root2).new, 'dir 750 3:3');
});

test('dir format: an opaque marker at the root clears the parent\'s whole tree but the layer\'s entries', { skip: needsRoot }, (t) => {
  const root = parentTree(t);
  apply(root, [file('etc/passwd', 'mine\n'), opaque('')]);
  assert.deepEqual(tree(root), { etc: 'dir 755 0:0', 'etc/passwd': 'file 644 0:0 mine\n' });
});
