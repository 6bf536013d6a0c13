import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, renameat2 } from './renameat2.js';
import { isSysError } from './sys-error.js';

test('renameat2 flags', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-rename-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = join(dir, 'a');
  const b = join(dir, 'b');

  await t.test('RENAME_NOREPLACE refuses an existing destination with EEXIST and changes nothing', () => {
    writeFileSync(a, 'A');
    writeFileSync(b, 'B');
    assert.throws(
      () => renameat2(a, b, RENAME_NOREPLACE),
      (err) => isSysError(err, 'EEXIST') && (err as { dest?: string }).dest === b,
    );
    assert.equal(readFileSync(a, 'utf8'), 'A');
    assert.equal(readFileSync(b, 'utf8'), 'B');
  });

  await t.test('RENAME_NOREPLACE moves a directory to a free name', () => {
    const staged = join(dir, 'staged');
    mkdirSync(staged);
    writeFileSync(join(staged, 'f'), 'x');
    renameat2(staged, join(dir, 'final'), RENAME_NOREPLACE);
    assert.equal(existsSync(staged), false);
    assert.equal(readFileSync(join(dir, 'final', 'f'), 'utf8'), 'x');
  });

  await t.test('RENAME_EXCHANGE swaps two names atomically', () => {
    renameat2(a, b, RENAME_EXCHANGE);
    assert.equal(readFileSync(a, 'utf8'), 'B');
    assert.equal(readFileSync(b, 'utf8'), 'A');
  });

  await t.test('flags 0 replaces like rename(2); a missing source is ENOENT', () => {
    renameat2(a, b, 0);
    assert.equal(existsSync(a), false);
    assert.equal(readFileSync(b, 'utf8'), 'B');
    assert.throws(() => renameat2(a, join(dir, 'c'), RENAME_NOREPLACE), (err) => isSysError(err, 'ENOENT'));
  });
});
