import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LayerApplier, type ApplyPorts } from './layer-applier.js';
import type { ApplyOp, Attrs } from './apply-op.js';
import { futimens, lutimens } from '../sys/utimens.js';

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
  const a = new LayerApplier(root, ports, { maxEntries: 1000 });
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
