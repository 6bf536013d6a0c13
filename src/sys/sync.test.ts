import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSysError } from './sys-error.js';
import { fsyncDir, syncfs, syncfsInBackground } from './sync.js';
import { withCwd } from './with-cwd.js';

test('syncfs flushes the file system of an fd; a bad fd is EBADF', () => {
  const fd = openSync(tmpdir(), 'r');
  try {
    syncfs(fd);
  } finally {
    closeSync(fd);
  }
  assert.throws(() => syncfs(99999), (err) => isSysError(err, 'EBADF'));
});

test('fsyncDir syncs a directory; a missing one is ENOENT', () => {
  fsyncDir(tmpdir());
  assert.throws(() => fsyncDir(join(tmpdir(), 'shibafu-no-such-dir')), (err) => isSysError(err, 'ENOENT'));
});

test('withCwd resolves relative names in the borrowed dir and always gives the cwd back', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-cwd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'only-here'), 'found');
  const before = process.cwd();
  assert.equal(withCwd(dir, () => readFileSync('only-here', 'utf8')), 'found');
  assert.throws(() => readFileSync('only-here'), (err) => isSysError(err, 'ENOENT'));
  assert.throws(() => withCwd(dir, () => { throw new Error('inside'); }), /inside/);
  assert.throws(() => readFileSync('only-here'), (err) => isSysError(err, 'ENOENT'));
  assert.throws(() => withCwd(join(dir, 'missing'), () => 1), (err) => isSysError(err, 'ENOENT'));
  assert.equal(process.cwd(), before);
});

test('syncfsInBackground runs on a worker thread and resolves, even for a bad fd (advisory only)', async () => {
  const fd = openSync(tmpdir(), 'r');
  try {
    await syncfsInBackground(fd);
  } finally {
    closeSync(fd);
  }
  await syncfsInBackground(99999);
});
