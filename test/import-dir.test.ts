/**
 * `layer create --from-dir` and `layer add` copy a host tree exactly (CopyToLayer): types, owners,
 * modes with setuid/setgid/sticky (also bits a umask would strip), times, xattrs, hard links,
 * symlinks, devices, fifos. Real kernel, as root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, lutimesSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lgetxattr, lsetxattr } from '../src/sys/xattr.js';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';
import { snapshotTree } from './helpers/tree-snapshot.js';

const T = new Date(1_600_000_000_000);

/** A tree with one of everything, owned by root and by others. */
function makeTree(root: string): void {
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'bin/su'), 'setuid root\n');
  chmodSync(join(root, 'bin/su'), 0o4755);
  writeFileSync(join(root, 'bin/user-tool'), 'setuid user\n');
  chownSync(join(root, 'bin/user-tool'), 1000, 1000);
  chmodSync(join(root, 'bin/user-tool'), 0o6750); // after the chown, which clears setuid/setgid
  writeFileSync(join(root, 'bin/world'), 'rw for all\n');
  chmodSync(join(root, 'bin/world'), 0o666); // bits a umask of 022 would strip
  mkdirSync(join(root, 'tmp'));
  chmodSync(join(root, 'tmp'), 0o1777);
  mkdirSync(join(root, 'shared'));
  chownSync(join(root, 'shared'), 0, 50);
  chmodSync(join(root, 'shared'), 0o2775);
  writeFileSync(join(root, 'shared/doc'), 'in a setgid dir\n');
  chownSync(join(root, 'shared/doc'), 1001, 50);
  writeFileSync(join(root, 'shared/h1'), 'linked\n');
  linkSync(join(root, 'shared/h1'), join(root, 'shared/h2'));
  symlinkSync('../bin/su', join(root, 'shared/link'));
  execFileSync('mkfifo', ['-m', '0620', join(root, 'shared/fifo')]);
  execFileSync('mknod', ['-m', '0640', join(root, 'shared/tty9'), 'c', '4', '9']);
  writeFileSync(join(root, 'shared/noted'), '');
  lsetxattr(join(root, 'shared/noted'), 'user.note', Buffer.from('kept'));
  lsetxattr(join(root, 'shared'), 'user.dir', Buffer.from('d'));
  for (const p of ['bin/su', 'bin/user-tool', 'bin/world', 'shared/doc', 'shared/h1', 'shared/fifo', 'shared/tty9', 'shared/noted', 'shared/link', 'bin', 'tmp', 'shared']) {
    lutimesSync(join(root, p), T, new Date(T.getTime() + 1234));
  }
}

test('layer create --from-dir and layer add copy every attribute of a host tree', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  const src = join(ts.inputs, 'tree');
  mkdirSync(src);
  makeTree(src);
  const created = await ts.store.createLayer({ name: 'copied', fromDir: src });
  const diff = created.layer.path;
  const wanted = snapshotTree(src);
  delete wanted['.']; // the layer root's own attributes are the store's
  const got = snapshotTree(diff);
  delete got['.'];
  assert.deepEqual(got, wanted);
  assert.equal(lstatSync(join(diff, 'shared/tty9')).rdev, (4 << 8) | 9);
  assert.equal(lstatSync(join(diff, 'shared/h1')).ino, lstatSync(join(diff, 'shared/h2')).ino);
  assert.equal(lgetxattr(join(diff, 'shared/noted'), 'user.note')?.toString(), 'kept');
  assert.equal(lgetxattr(join(diff, 'shared'), 'user.dir')?.toString(), 'd');

  // The same tree through an open layer: `layer add` of the directory merges it into DEST.
  await ts.store.createLayer({ name: 'open' });
  await ts.store.addToLayer('open', src, '/srv');
  const openDiff = ts.store.inspectLayer('open').path;
  const added = snapshotTree(join(openDiff, 'srv'));
  delete added['.'];
  assert.deepEqual(added, wanted);
});
