/**
 * Pure path checks (no root, no disk): every archive path that could name a place outside the
 * layer is refused before a byte is written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyWhiteout, isForbiddenXattr, OPAQUE_MARKER, splitArchivePath, WHITEOUT_PREFIX } from './path-safety.js';

const limits = { maxDepth: 8 };

test('splitArchivePath normalizes ".", "./" prefixes, doubled and trailing slashes', () => {
  assert.deepEqual(splitArchivePath('usr/bin/env', limits), ['usr', 'bin', 'env']);
  assert.deepEqual(splitArchivePath('./usr/bin/', limits), ['usr', 'bin']);
  assert.deepEqual(splitArchivePath('usr//./bin', limits), ['usr', 'bin']);
  assert.deepEqual(splitArchivePath('.', limits), []);
  assert.deepEqual(splitArchivePath('./', limits), []);
  assert.deepEqual(splitArchivePath('', limits), []);
  // Names that merely contain dots are ordinary names.
  assert.deepEqual(splitArchivePath('a/..b/...', limits), ['a', '..b', '...']);
  assert.deepEqual(splitArchivePath('日本語/ファイル', limits), ['日本語', 'ファイル']);
});

test('splitArchivePath refuses "..", absolute paths and NUL bytes (PATH_UNSAFE)', () => {
  for (const path of ['..', '../evil', 'a/../../evil', 'a/b/..', './..', '/etc/passwd', '/', '//x', 'a\0b']) {
    assert.throws(() => splitArchivePath(path, limits), { name: 'ShibafuError', code: 'PATH_UNSAFE' }, JSON.stringify(path));
  }
  // Even a ".." that would stay inside ("a/../b") is refused: no normalization games.
  assert.throws(() => splitArchivePath('a/../b', limits), { code: 'PATH_UNSAFE' });
});

test('splitArchivePath enforces the depth limit (LIMIT_EXCEEDED), counting components after normalization', () => {
  assert.deepEqual(splitArchivePath('1/2/3/4/5/6/7/8', limits).length, 8);
  assert.deepEqual(splitArchivePath('./1//2/3/4/5/6/7/8/', limits).length, 8);
  assert.throws(() => splitArchivePath('1/2/3/4/5/6/7/8/9', limits), { code: 'LIMIT_EXCEEDED' });
});

test('classifyWhiteout: ordinary names, whiteouts, the opaque marker, aufs metadata', () => {
  assert.equal(WHITEOUT_PREFIX, '.wh.');
  assert.equal(OPAQUE_MARKER, '.wh..wh..opq');
  assert.deepEqual(classifyWhiteout('passwd'), { kind: 'none' });
  assert.deepEqual(classifyWhiteout('.whatever'), { kind: 'none' });
  assert.deepEqual(classifyWhiteout('wh.x'), { kind: 'none' });
  assert.deepEqual(classifyWhiteout('.wh.passwd'), { kind: 'whiteout', target: 'passwd' });
  assert.deepEqual(classifyWhiteout('.wh..bashrc'), { kind: 'whiteout', target: '.bashrc' });
  assert.deepEqual(classifyWhiteout('.wh..wh..opq'), { kind: 'opaque' });
  assert.deepEqual(classifyWhiteout('.wh..wh.plnk'), { kind: 'aufs-meta' });
  assert.deepEqual(classifyWhiteout('.wh..wh.orph'), { kind: 'aufs-meta' });
});

test('classifyWhiteout refuses whiteouts that name nothing, "." or ".." (PATH_UNSAFE)', () => {
  for (const base of ['.wh.', '.wh..', '.wh...']) {
    assert.throws(() => classifyWhiteout(base), { code: 'PATH_UNSAFE' }, base);
  }
});

test('isForbiddenXattr: trusted.* and user.overlay.* are refused; ordinary namespaces pass', () => {
  for (const name of ['trusted.overlay.opaque', 'trusted.overlay.redirect', 'trusted.overlay.metacopy', 'trusted.overlay.origin', 'trusted.anything', 'user.overlay.opaque', 'user.overlay.redirect']) {
    assert.equal(isForbiddenXattr(name), true, name);
  }
  for (const name of ['user.foo', 'user.overlayish', 'security.capability', 'security.selinux', 'system.posix_acl_access', 'system.posix_acl_default']) {
    assert.equal(isForbiddenXattr(name), false, name);
  }
});
