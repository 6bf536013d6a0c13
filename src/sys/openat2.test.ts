import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isResolveRefusal, openBeneath } from './openat2.js';
import { isSysError } from './sys-error.js';

function readFd(fd: number): string {
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

// Both paths: openat2 (the kernel here has it) and the component walk used where it is missing.
for (const walk of [false, true]) {
  test(`openBeneath (${walk ? 'openat walk' : 'openat2'})`, async (t) => {
    const base = mkdtempSync(join(tmpdir(), 'shibafu-beneath-'));
    t.after(() => rmSync(base, { recursive: true, force: true }));
    const root = join(base, 'root');
    const outside = join(base, 'outside');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(root, 'etc', 'passwd'), 'inside\n');
    writeFileSync(join(outside, 'passwd'), 'SECRET\n');
    symlinkSync(outside, join(root, 'linkdir'));
    symlinkSync('etc/passwd', join(root, 'linkfile'));
    symlinkSync('../outside', join(root, 'relout'));
    const rootFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
    t.after(() => closeSync(rootFd));
    const refused = (err: unknown): boolean => isResolveRefusal(err);

    await t.test('opens a file below the directory', () => {
      assert.equal(readFd(openBeneath(rootFd, 'etc/passwd', { walk })), 'inside\n');
      assert.equal(readFd(openBeneath(rootFd, './etc//passwd', { walk })), 'inside\n');
    });
    await t.test('refuses a symlinked directory component (ELOOP), absolute or relative', () => {
      assert.throws(() => openBeneath(rootFd, 'linkdir/passwd', { walk }), refused);
      assert.throws(() => openBeneath(rootFd, 'relout/passwd', { walk }), refused);
    });
    await t.test('refuses a symlink as the last component, even one pointing inside', () => {
      assert.throws(() => openBeneath(rootFd, 'linkfile', { walk }), refused);
    });
    await t.test('refuses ".." and absolute paths (EXDEV)', () => {
      assert.throws(() => openBeneath(rootFd, '../outside/passwd', { walk }), (err) => isSysError(err, 'EXDEV'));
      assert.throws(() => openBeneath(rootFd, `${outside}/passwd`, { walk }), (err) => isSysError(err, 'EXDEV'));
    });
    await t.test('a missing file is ENOENT, not a refusal', () => {
      assert.throws(() => openBeneath(rootFd, 'etc/shadow', { walk }), (err) => isSysError(err, 'ENOENT') && !isResolveRefusal(err));
    });
  });
}
