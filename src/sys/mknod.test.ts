import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devMajor, devMinor, makedev, mknod } from './mknod.js';
import { isSysError } from './sys-error.js';

const NOT_ROOT = process.getuid?.() === 0 ? false : 'needs root (CAP_MKNOD); CI runs this suite as root';

test('makedev uses glibc\'s bit layout', () => {
  assert.equal(makedev(0, 0), 0n);
  assert.equal(makedev(8, 1), 0x801n);
  assert.equal(makedev(1, 3), 0x103n);
  assert.equal(makedev(0xfff, 0xff), 0xfffffn);
  assert.equal(makedev(0, 0x100), 0x100000n); // minor bits 8+ start at bit 20
  assert.equal(makedev(0x1000, 0), 0x100000000000n); // major bits 12+ start at bit 44
});

test('makedev packs major and minor as glibc does (what Node reports as st_rdev; statx builds dev and rdev with it)', () => {
  assert.equal(makedev(1, 3), 259n);
  assert.equal(makedev(0, 0), 0n);
  assert.equal(makedev(8, 17), (8n << 8n) | 17n);
  // major 4095 / minor 255 still fit the old 16-bit layout; beyond, the high bits move up (the
  // kernel's own dev_t has 12 bits of major and 20 of minor; glibc's leaves room for more).
  assert.equal(makedev(4095, 255), (4095n << 8n) | 255n);
  assert.equal(makedev(4096, 256), (1n << 44n) | (1n << 20n));
});

test('devMajor / devMinor invert makedev', () => {
  for (const [ma, mi] of [[0, 0], [8, 1], [259, 65536], [0xfff, 0xfffff], [0x12345, 0x6789ab]] as const) {
    const dev = makedev(ma, mi);
    assert.equal(devMajor(dev), ma);
    assert.equal(devMinor(dev), mi);
    assert.equal(devMajor(Number(dev)), ma);
  }
});

test('devMajor / devMinor read /dev/null as 1:3', () => {
  const st = statSync('/dev/null');
  assert.equal(devMajor(st.rdev), 1);
  assert.equal(devMinor(st.rdev), 3);
});

test('mknod refuses device numbers the kernel cannot store, before any syscall', () => {
  assert.throws(() => mknod('/nonexistent/x', 'char', 0o600, 4096, 0), (err) => isSysError(err, 'EOVERFLOW'));
  assert.throws(() => mknod('/nonexistent/x', 'block', 0o600, 1, 0x100000), (err) => isSysError(err, 'EOVERFLOW'));
  assert.throws(() => mknod('/nonexistent/x', 'block', 0o600, -1, 0), (err) => isSysError(err, 'EOVERFLOW'));
});

test('mknod on the real kernel', { skip: NOT_ROOT }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-mknod-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const oldMask = process.umask(0);
  t.after(() => process.umask(oldMask));

  await t.test('a character device 0/0 is an overlay whiteout', () => {
    const p = join(dir, 'whiteout');
    mknod(p, 'char', 0o000, 0, 0);
    const st = lstatSync(p);
    assert.equal(st.isCharacterDevice(), true);
    assert.equal(st.rdev, 0);
    assert.equal(st.mode & 0o7777, 0);
  });

  await t.test('a block device keeps its major and minor', () => {
    const p = join(dir, 'sda1');
    mknod(p, 'block', 0o660, 8, 1);
    const st = lstatSync(p);
    assert.equal(st.isBlockDevice(), true);
    assert.equal(devMajor(st.rdev), 8);
    assert.equal(devMinor(st.rdev), 1);
    assert.equal(st.mode & 0o7777, 0o660);
  });

  await t.test('large device numbers survive the round trip', () => {
    const p = join(dir, 'big');
    mknod(p, 'char', 0o600, 0xfff, 0xfffff);
    const st = lstatSync(p, { bigint: true });
    assert.equal(devMajor(st.rdev), 0xfff);
    assert.equal(devMinor(st.rdev), 0xfffff);
  });

  await t.test('a fifo', () => {
    const p = join(dir, 'pipe');
    mknod(p, 'fifo', 0o644);
    const st = lstatSync(p);
    assert.equal(st.isFIFO(), true);
    assert.equal(st.mode & 0o7777, 0o644);
  });

  await t.test('an existing name fails with EEXIST, a missing parent with ENOENT', () => {
    assert.throws(() => mknod(join(dir, 'pipe'), 'fifo', 0o644), (err) => isSysError(err, 'EEXIST') && err.message.includes('mknod'));
    assert.throws(() => mknod(join(dir, 'no', 'x'), 'char', 0, 0, 0), (err) => isSysError(err, 'ENOENT'));
  });
});
