import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abbreviatePath, columns, formatBytes, formatListing, formatMs, heading, labelled, modeString, quoted, wrap } from './demo-text.js';
import { parseOverlayOptions } from './overlay-options.js';
import { splitDevice, type TreeEntry } from './tree-listing.js';

const entry = (over: Partial<TreeEntry>): TreeEntry => ({ path: 'x', type: 'file', mode: 0o644, size: 0, rdev: null, whiteout: false, xattrs: {}, ...over });

test('modeString writes ls -l mode columns, setuid/setgid/sticky included', () => {
  assert.equal(modeString('file', 0o644), '-rw-r--r--');
  assert.equal(modeString('char', 0), 'c---------');
  assert.equal(modeString('dir', 0o1777), 'drwxrwxrwt');
  assert.equal(modeString('file', 0o4755), '-rwsr-xr-x');
  assert.equal(modeString('file', 0o2644), '-rw-r-Sr--');
  assert.equal(modeString('symlink', 0o777), 'lrwxrwxrwx');
});

test('formatListing: a whiteout shows as c 0 0, an opaque dir with its xattr, binary xattrs by name', () => {
  assert.deepEqual(formatListing([]), ['(empty)']);
  assert.deepEqual(formatListing([
    entry({ path: 'base.txt', type: 'char', mode: 0, rdev: { major: 0, minor: 0 }, whiteout: true }),
    entry({ path: 'config', type: 'dir', mode: 0o755, size: 4096, xattrs: { 'trusted.overlay.opaque': 'y' } }),
    entry({ path: 'shared.txt', size: 9, xattrs: { 'trusted.overlay.origin': '0x00fb' } }),
  ]), [
    'c---------  0, 0  base.txt    whiteout (c 0 0)',
    'drwxr-xr-x  4096  config/     trusted.overlay.opaque=y',
    '-rw-r--r--     9  shared.txt  trusted.overlay.origin',
  ]);
});

test('sizes, durations, quoting and paths for prose', () => {
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(52428800), '50.0 MiB');
  assert.equal(formatMs(0.01234), '0.012 ms');
  assert.equal(formatMs(62.84), '62.8 ms');
  assert.equal(formatMs(311.4), '311 ms');
  assert.equal(quoted('from app\n'), '"from app"');
  assert.equal(quoted('a\nb'), '"a\\nb"');
  const hex = 'af3d20a0ed84e37c51b578c80d00499115ed6e808134164c6317cdc9b65996f2';
  assert.equal(abbreviatePath(`/tmp/d/store/layers/${hex}/diff`, '/tmp/d'), 'store/layers/af3d20a0ed84…/diff');
  assert.equal(abbreviatePath('/elsewhere/x', '/tmp/d'), '/elsewhere/x');
});

test('layout: wrap, labelled paragraphs, columns, headings', () => {
  assert.deepEqual(wrap('a b c', 3), ['a b', 'c']);
  assert.deepEqual(wrap('averyverylongword x', 4), ['averyverylongword', 'x']);
  assert.deepEqual(labelled('why', ['Reads copy nothing.']), ['  why       Reads copy nothing.']);
  assert.deepEqual(labelled('saw', ['one', 'two'], { raw: true }), ['  saw       one', '            two']);
  assert.deepEqual(columns([['a', '1'], ['bb', '22']], [false, true]), ['a    1', 'bb  22']);
  assert.deepEqual(heading('a', 'Three'), ['', '[a] Three', '    ─────']);
});

test('parseOverlayOptions reads the lowerdir order the kernel prints', () => {
  const p = parseOverlayOptions('rw,lowerdir+=/l/app,lowerdir+=/l/my\\054dir,upperdir=/m/upper,workdir=/m/work,uuid=on');
  assert.deepEqual(p.lowers, ['/l/app', '/l/my,dir']);
  assert.equal(p.lowerSyntax, 'lowerdir+');
  assert.equal(p.upper, '/m/upper');
  assert.equal(p.work, '/m/work');
  assert.deepEqual(p.other, ['rw', 'uuid=on']);
  const legacy = parseOverlayOptions('ro,lowerdir=l/a:l/b\\:c::l/data,redirect_dir=on');
  assert.deepEqual(legacy.lowers, ['l/a', 'l/b:c', 'l/data']);
  assert.equal(legacy.lowerSyntax, 'lowerdir');
  assert.equal(legacy.upper, null);
});

test('splitDevice follows glibc major()/minor()', () => {
  assert.deepEqual(splitDevice(0), { major: 0, minor: 0 });
  assert.deepEqual(splitDevice(0x0801), { major: 8, minor: 1 });
  // makedev(259, 65536): minor bits above 8 go to bits 20..31.
  assert.deepEqual(splitDevice((259 << 8) | (65536 & 0xff) | ((65536 & ~0xff) << 12)), { major: 259, minor: 65536 });
});
