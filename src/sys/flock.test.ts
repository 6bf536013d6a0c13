import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flock, LOCK_EX, LOCK_NB, LOCK_UN, tryLock, unlock, waitForLock } from './flock.js';
import { isSysError } from './sys-error.js';

const FLOCK_MODULE = fileURLToPath(new URL('./flock.js', import.meta.url));

/** Asks a separate node process to take the lock without waiting; returns what it got. */
function childTryLock(file: string, exclusive: boolean): boolean {
  const script = `
    import { openSync } from 'node:fs';
    import { tryLock } from ${JSON.stringify(FLOCK_MODULE)};
    process.stdout.write(String(tryLock(openSync(${JSON.stringify(file)}, 'r'), ${exclusive})));
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return child.stdout === 'true';
}

test('flock between open file descriptions and processes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-flock-'));
  const file = join(dir, 'lock');
  writeFileSync(file, '');
  const a = openSync(file, 'r');
  const b = openSync(file, 'r');
  t.after(() => {
    closeSync(a);
    closeSync(b);
    rmSync(dir, { recursive: true, force: true });
  });

  await t.test('shared locks coexist; an exclusive one excludes them', () => {
    assert.equal(tryLock(a, false), true);
    assert.equal(tryLock(b, false), true);
    assert.equal(tryLock(b, true), false); // a still holds shared
    unlock(a);
    assert.equal(tryLock(b, true), true); // converts b's shared lock to exclusive
    assert.equal(tryLock(a, false), false);
    unlock(b);
  });

  await t.test('an exclusive lock keeps another process out until released', () => {
    assert.equal(tryLock(a, true), true);
    assert.equal(childTryLock(file, true), false);
    assert.equal(childTryLock(file, false), false);
    flock(a, LOCK_UN);
    assert.equal(childTryLock(file, true), true); // the child's lock died with it
    assert.equal(tryLock(a, true), true);
    unlock(a);
  });

  await t.test('flock with LOCK_NB throws EAGAIN; bad fds throw EBADF', () => {
    flock(a, LOCK_EX);
    assert.throws(() => flock(b, LOCK_EX | LOCK_NB), (err) => isSysError(err, 'EAGAIN'));
    unlock(a);
    assert.throws(() => tryLock(99999, true), (err) => isSysError(err, 'EBADF'));
  });

  await t.test('waitForLock gets the lock once it is released, and obeys an abort', async () => {
    flock(a, LOCK_EX);
    await assert.rejects(
      waitForLock(b, { exclusive: true, signal: AbortSignal.timeout(60), pollMs: 10 }),
      (err: Error) => err.name === 'AbortError' || err.name === 'TimeoutError',
    );
    setTimeout(() => unlock(a), 30);
    await waitForLock(b, { exclusive: true, pollMs: 5 });
    assert.equal(tryLock(a, false), false);
    unlock(b);
  });
});
