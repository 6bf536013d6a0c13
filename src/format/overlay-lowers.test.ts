import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mknod } from '../sys/mknod.js';
import { lgetxattr, lsetxattr } from '../sys/xattr.js';
import { overlayLowerView } from './overlay-lowers.js';

const needsRoot = process.geteuid?.() === 0 ? false : 'needs root (mknod, trusted.* xattrs)';

/** Layer dirs from specs: 'dir/', 'file', 'wh' (0/0 device), 'opq/' (opaque dir), 'xwh' (xattr whiteout). */
function layers(t: { after(fn: () => void): void }, specs: Array<Record<string, string>>): string[] {
  const base = fs.mkdtempSync(join(tmpdir(), 'overlay-lowers-'));
  t.after(() => fs.rmSync(base, { recursive: true, force: true }));
  return specs.map((spec, i) => {
    const root = join(base, String(i));
    fs.mkdirSync(root);
    for (const [rel, kind] of Object.entries(spec)) {
      const path = join(root, rel);
      fs.mkdirSync(join(path, '..'), { recursive: true });
      if (kind === 'dir' || kind === 'opq') fs.mkdirSync(path, { recursive: true });
      if (kind === 'opq') lsetxattr(path, 'trusted.overlay.opaque', Buffer.from('y'));
      if (kind === 'file') fs.writeFileSync(path, 'x');
      if (kind === 'wh') mknod(path, 'char', 0, 0, 0);
      if (kind === 'xwh') {
        fs.writeFileSync(path, '');
        lsetxattr(path, 'trusted.overlay.whiteout', Buffer.alloc(0));
      }
    }
    return root;
  });
}

test('an empty stack shows nothing: no view', () => {
  assert.equal(overlayLowerView([], { lgetxattr }), null);
});

test('the merged view of the layers below, by overlay\'s lookup rules', { skip: needsRoot }, (t) => {
  // Bottom first, as stacks are listed.
  const view = overlayLowerView(layers(t, [
    { 'etc/passwd': 'file', 'etc/motd': 'file', 'opt/app/run': 'file', 'opt/app/conf': 'file', 'var/log/x': 'file', 'srv/a': 'file', data: 'file' },
    { 'etc/motd': 'wh', 'opt/app': 'opq', 'opt/app/new': 'file', var: 'file', 'srv/b': 'file', data: 'xwh' },
    { 'etc/hosts': 'file', 'var/log': 'dir' },
  ]), { lgetxattr })!;
  const has = (p: string): boolean => view.has(p.split('/'));
  assert.equal(view.has([]), true);
  assert.equal(has('etc/passwd'), true, 'from the bottom layer through merged dirs');
  assert.equal(has('etc/hosts'), true, 'from the top layer');
  assert.equal(has('etc/motd'), false, 'whited out by the middle layer');
  assert.equal(has('data'), false, 'an empty file with the whiteout xattr is a whiteout too');
  assert.equal(has('opt/app/new'), true);
  assert.equal(has('opt/app/run'), false, 'below an opaque dir');
  assert.equal(has('var/log'), true, 'the top layer\'s own dir');
  assert.equal(has('var/log/x'), false, 'the middle layer\'s file var hides the bottom\'s var/');
  assert.equal(has('srv/a'), true);
  assert.equal(has('srv/b'), true);
  assert.equal(has('srv/c'), false);
  assert.equal(has('etc/passwd/x'), false, 'below a file');
  assert.equal(has('nowhere/x'), false);
  // Asked again (cached directories): the same answers.
  assert.equal(has('etc/motd'), false);
  assert.equal(has('etc/passwd'), true);
});
