/**
 * The btrfs subvolume ioctls on a real btrfs (a loop device made for this file, root), and their
 * refusals elsewhere.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isShibafuError } from '../errors.js';
import { makeLoopBtrfs, needsBtrfs, type LoopBtrfs } from '../../test/helpers/loop-btrfs.js';
import { createSubvolume, destroySubvolume, isSubvolume, onBtrfs, setSubvolumeReadonly, snapshotSubvolume, subvolumeReadonly } from './btrfs.js';
import { isSysError } from './sys-error.js';

describe('btrfs subvolume ioctls', { skip: needsBtrfs }, () => {
  let loop: LoopBtrfs;
  let n = 0;
  /** A fresh name on the btrfs. */
  const fresh = (): string => join(loop.mnt, `t${n++}`);
  before(() => { loop = makeLoopBtrfs('256M'); });
  after(() => loop?.teardown());

  test('createSubvolume makes an empty subvolume (root inode 256), EEXIST when the name is taken', () => {
    const p = fresh();
    createSubvolume(p);
    assert.equal(isSubvolume(p), true);
    assert.equal(fs.lstatSync(p, { bigint: true }).ino, 256n);
    assert.deepEqual(fs.readdirSync(p), []);
    assert.equal(subvolumeReadonly(p), false);
    assert.throws(() => createSubvolume(p), (err: unknown) => isSysError(err, 'EEXIST'));
    const plain = fresh();
    fs.mkdirSync(plain);
    assert.equal(isSubvolume(plain), false, 'a plain directory is not a subvolume');
    assert.equal(isSubvolume(fresh()), false, 'nor is a missing path');
  });

  test('snapshotSubvolume: a writable snapshot has the tree and diverges; a read-only one refuses writes', () => {
    const src = fresh();
    createSubvolume(src);
    fs.mkdirSync(join(src, 'd'));
    fs.writeFileSync(join(src, 'd', 'f'), 'one');
    const rw = fresh();
    snapshotSubvolume(src, rw, { readonly: false });
    assert.equal(fs.readFileSync(join(rw, 'd', 'f'), 'utf8'), 'one');
    assert.equal(subvolumeReadonly(rw), false);
    fs.rmSync(join(rw, 'd', 'f'));
    fs.writeFileSync(join(rw, 'g'), 'two');
    assert.equal(fs.readFileSync(join(src, 'd', 'f'), 'utf8'), 'one', 'the source keeps its file');
    assert.equal(fs.existsSync(join(src, 'g')), false);
    const ro = fresh();
    snapshotSubvolume(src, ro, { readonly: true });
    assert.equal(subvolumeReadonly(ro), true);
    assert.throws(() => fs.writeFileSync(join(ro, 'new'), 'x'), { code: 'EROFS' });
    assert.throws(() => fs.rmSync(join(ro, 'd', 'f')), { code: 'EROFS' });
  });

  test('setSubvolumeReadonly sets and clears the flag in place, idempotently', () => {
    const p = fresh();
    createSubvolume(p);
    fs.writeFileSync(join(p, 'f'), 'x');
    setSubvolumeReadonly(p, true);
    setSubvolumeReadonly(p, true);
    assert.equal(subvolumeReadonly(p), true);
    assert.throws(() => fs.writeFileSync(join(p, 'f'), 'y'), { code: 'EROFS' });
    setSubvolumeReadonly(p, false);
    setSubvolumeReadonly(p, false);
    assert.equal(subvolumeReadonly(p), false);
    fs.writeFileSync(join(p, 'f'), 'y');
    assert.equal(fs.readFileSync(join(p, 'f'), 'utf8'), 'y');
  });

  test('destroySubvolume removes a subvolume, read-only ones and nested ones included; ENOENT when none', () => {
    const p = fresh();
    createSubvolume(p);
    fs.writeFileSync(join(p, 'f'), 'x');
    destroySubvolume(p);
    assert.equal(fs.existsSync(p), false);

    // A read-only subvolume holding a subvolume deep in a directory, itself holding one.
    const outer = fresh();
    createSubvolume(outer);
    fs.mkdirSync(join(outer, 'a', 'b'), { recursive: true });
    createSubvolume(join(outer, 'a', 'b', 'inner'));
    createSubvolume(join(outer, 'a', 'b', 'inner', 'innermost'));
    fs.writeFileSync(join(outer, 'a', 'b', 'inner', 'innermost', 'f'), 'x');
    setSubvolumeReadonly(join(outer, 'a', 'b', 'inner'), true);
    setSubvolumeReadonly(outer, true);
    destroySubvolume(outer);
    assert.equal(fs.existsSync(outer), false);
    assert.deepEqual(fs.readdirSync(loop.mnt).filter((name) => name === 'inner' || name === 'innermost'), []);

    assert.throws(() => destroySubvolume(fresh()), (err: unknown) => isSysError(err, 'ENOENT'));
  });

  test('destroySubvolume refuses a subvolume something is mounted on (EBUSY)', (t) => {
    const p = fresh();
    createSubvolume(p);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', p]);
    t.after(() => { try { execFileSync('umount', [p]); } catch { /* unmounted by the test */ } });
    assert.throws(() => destroySubvolume(p), (err: unknown) => isSysError(err, 'EBUSY'));
    execFileSync('umount', [p]);
    destroySubvolume(p);
  });

  test('on another file system: UNSUPPORTED naming btrfs (ENOTTY), and across file systems (EXDEV)', { skip: onBtrfs(tmpdir()) ? `${tmpdir()} is on btrfs` : false }, (t) => {
    const other = fs.mkdtempSync(join(tmpdir(), 'shibafu-not-btrfs-'));
    t.after(() => fs.rmSync(other, { recursive: true, force: true }));
    const unsupported = (cause: string) => (err: unknown): boolean => {
      assert.ok(isShibafuError(err, 'UNSUPPORTED'), String(err));
      assert.match(err.message, /btrfs/);
      assert.ok(err.hint !== undefined && /btrfs/.test(err.hint));
      assert.ok(isSysError(err.cause, cause), `cause ${String(err.cause)}`);
      return true;
    };
    assert.throws(() => createSubvolume(join(other, 'sub')), unsupported('ENOTTY'));
    assert.throws(() => setSubvolumeReadonly(other, true), unsupported('ENOTTY'));
    assert.throws(() => snapshotSubvolume(other, fresh(), { readonly: false }), unsupported('EXDEV'));
    assert.equal(onBtrfs(other), false);
    assert.equal(isSubvolume(other), false);
  });
});
