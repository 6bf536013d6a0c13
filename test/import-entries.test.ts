/**
 * Import of every entry type (issue 2, point 3), with exact assertions on the layer directory:
 * content, type, mode (setuid/setgid/sticky), owner, mtime (seconds and PAX fractions), xattrs,
 * link targets, hardlink inodes, device numbers, whiteouts (0/0 char devices, mode 0) and
 * opaque dirs (trusted.overlay.opaque=y). Then the same archive gzip- and zstd-compressed under
 * misleading names, and from stdin. Real kernel, as root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import type { LayerDetails } from '../src/store/layer-views.js';
import { devMajor, devMinor } from '../src/sys/mknod.js';
import { lgetxattr, llistxattr } from '../src/sys/xattr.js';
import { gzip, zstd, zstdChunked } from './fixtures/compress.js';
import { BUSYBOX, EVERY_ENTRY_COUNT, LONG, T0, everyEntryArchive } from './fixtures/every-entry.js';
import { CAP_NET_RAW_EP } from './fixtures/hostile-archives.js';
import { runCli } from './helpers/cli.js';
import { TarBuilder } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('import of every entry type', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  const tar = everyEntryArchive();
  let layer: LayerDetails;
  let diff: string;
  const st = (rel: string): BigIntStats => lstatSync(join(diff, rel), { bigint: true });
  const mode = (rel: string): number => Number(st(rel).mode & 0o7777n);
  const owner = (rel: string): string => { const s = st(rel); return `${s.uid}:${s.gid}`; };
  const mtime = (rel: string): bigint => st(rel).mtimeNs;
  const sec = (n: number): bigint => BigInt(n) * 1_000_000_000n;

  before(async () => {
    const path = ts.input('every.tar', tar);
    const result = await ts.store.createLayer({ name: 'every', source: path });
    assert.equal(result.existed, false);
    layer = ts.store.inspectLayer('every');
    diff = layer.path;
  });

  test('GNU tar lists the fixture as intended (cross-check of the test tar builder)', () => {
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', '-'], { input: tar, encoding: 'utf8' });
    const lines = listing.trimEnd().split('\n');
    assert.equal(lines.length, EVERY_ENTRY_COUNT);
    const line = (name: string): string => lines.find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} `)) ?? `(no line for ${name})`;
    assert.match(line('bin/su'), /^-rwsr-xr-x 0\/0 +2 /);
    assert.match(line('bin/wall'), /^-rwxr-sr-x 0\/5 +4 /);
    assert.match(line('tmp/'), /^drwxrwxrwt 0\/0 /);
    assert.match(line('srv/'), /^drwxr-sr-x 1000\/1000 /);
    assert.match(line('bin/sh'), /^lrwxrwxrwx 1000\/1001 .* bin\/sh -> busybox$/);
    assert.match(line('bin/ls'), /^hrw-r--r-- 0\/0 .* bin\/ls link to bin\/busybox$/);
    assert.match(line('dev/null'), /^crw-rw-rw- 0\/0 +1,3 /);
    assert.match(line('dev/sda1'), /^brw-rw---- 0\/6 +8,1 /);
    assert.match(line('run/fifo'), /^prw--w---- 1000\/0 /);
    assert.match(line('srv/bigid'), /^-rw-r--r-- 3000000\/4000000 /);
    // Long names resolved from PAX and GNU records, not the truncated header names.
    assert.ok(lines.some((l) => l.endsWith(` ${LONG.pax}`)));
    assert.ok(lines.some((l) => l.endsWith(` ${LONG.paxDeep}`)));
    assert.ok(lines.some((l) => l.endsWith(` ${LONG.gnu}`)));
    assert.ok(lines.some((l) => l.endsWith(` links/gnu -> ${LONG.target}`)));
    assert.ok(lines.some((l) => l.endsWith(` links/hard-gnu link to ${LONG.gnu}`)));
  });

  test('the layer row: digests, counts, source', () => {
    assert.equal(layer.state, 'sealed');
    assert.equal(layer.diffId, sha256(tar));
    assert.equal(layer.chainId, layer.diffId, 'a root layer\'s chainId is its diffId');
    assert.deepEqual(layer.blob, { digest: sha256(tar), size: tar.length, mediaType: 'application/vnd.oci.image.layer.v1.tar' });
    assert.equal(layer.size, tar.length);
    assert.equal(layer.files, EVERY_ENTRY_COUNT);
    assert.equal(layer.source, 'tar');
    assert.equal(layer.parent, null);
    assert.equal(layer.path, ts.store.context.snapshots.changeset(layer.chainId!).dir);
  });

  test('regular files: content, mode with setuid/setgid, owner, mtime', () => {
    assert.equal(readFileSync(join(diff, 'etc/hostname'), 'utf8'), 'shibafu\n');
    assert.ok(st('etc/hostname').isFile());
    assert.equal(mode('etc/hostname'), 0o644);
    assert.equal(owner('etc/hostname'), '0:0');
    assert.equal(mtime('etc/hostname'), sec(T0));
    assert.equal(st('etc/empty').size, 0n);
    assert.equal(mode('etc/empty'), 0o600);
    assert.ok(readFileSync(join(diff, 'bin/busybox')).equals(BUSYBOX));
    assert.equal(mode('bin/busybox'), 0o755);
    assert.equal(mode('bin/su'), 0o4755);
    assert.equal(readFileSync(join(diff, 'bin/su'), 'utf8'), 'su');
    assert.equal(mode('bin/wall'), 0o2755);
    assert.equal(owner('bin/wall'), '0:5');
    assert.equal(mode('srv/data'), 0o640);
    assert.equal(owner('srv/data'), '1000:1000');
    assert.equal(owner('srv/bigid'), '3000000:4000000');
  });

  test('PAX fractional mtimes', () => {
    assert.equal(mtime('srv/frac'), sec(T0 + 7) + 500_000_000n);
    // Set with utimensat, not Node's double-based utimes: the PAX fraction lands to the nanosecond.
    assert.equal(mtime('srv/micro') - sec(T0 + 8), 123_456_789n);
  });

  test('directories: mode (sticky, setgid), owner, xattrs, mtime set after their children', () => {
    assert.ok(st('tmp').isDirectory());
    assert.equal(mode('tmp'), 0o1777);
    assert.equal(mode('srv'), 0o2755);
    assert.equal(owner('srv'), '1000:1000');
    assert.equal(mtime('srv'), sec(T0 - 100), 'srv/ got children after its entry, its mtime must still be the archive\'s');
    assert.equal(mode('srv/sub'), 0o750);
    assert.equal(mtime('srv/sub'), sec(T0 - 200));
    assert.equal(lgetxattr(join(diff, 'srv/sub'), 'user.dir')?.toString(), 'yes');
    assert.equal(mtime('etc'), sec(T0 - 10));
    assert.equal(mtime('bin'), sec(T0 - 20));
    assert.equal(mode('links/dir-after-children'), 0o700);
    assert.equal(mtime('links/dir-after-children'), sec(T0 - 300));
    // The layer root takes the "./" entry.
    assert.equal(mode('.'), 0o711);
    assert.equal(mtime('.'), sec(T0 - 1000));
  });

  test('implicit parent directories are created 0755 root:root', () => {
    for (const dir of ['run', 'p', 'g', 'links', 'var/cache', `p/${'a'.repeat(120)}`]) {
      assert.ok(st(dir).isDirectory(), dir);
      assert.equal(mode(dir), 0o755, dir);
      assert.equal(owner(dir), '0:0', dir);
    }
  });

  test('symlinks: target, owner of the link itself (lchown), mtime', () => {
    assert.ok(st('bin/sh').isSymbolicLink());
    assert.equal(readlinkSync(join(diff, 'bin/sh')), 'busybox');
    assert.equal(owner('bin/sh'), '1000:1001');
    assert.equal(mtime('bin/sh'), sec(T0 - 5));
    assert.equal(readlinkSync(join(diff, 'links/pax')), LONG.target);
    assert.equal(readlinkSync(join(diff, 'links/gnu')), LONG.target);
  });

  test('hardlinks: the same inode, nlink counts every name', () => {
    const a = st('bin/busybox');
    const b = st('bin/ls');
    assert.equal(b.ino, a.ino);
    assert.equal(a.nlink, 2n);
    assert.equal(st(LONG.paxDeep).ino, st('links/hard-pax').ino);
    assert.equal(st(LONG.gnu).ino, st('links/hard-gnu').ino);
    assert.equal(st(LONG.gnu).nlink, 2n);
  });

  test('character and block devices (rdev major/minor) and fifos', () => {
    assert.ok(st('dev/null').isCharacterDevice());
    assert.equal(devMajor(st('dev/null').rdev), 1);
    assert.equal(devMinor(st('dev/null').rdev), 3);
    assert.equal(mode('dev/null'), 0o666);
    assert.ok(st('dev/sda1').isBlockDevice());
    assert.equal(devMajor(st('dev/sda1').rdev), 8);
    assert.equal(devMinor(st('dev/sda1').rdev), 1);
    assert.equal(mode('dev/sda1'), 0o660);
    assert.equal(owner('dev/sda1'), '0:6');
    assert.ok(st('run/fifo').isFIFO());
    assert.equal(mode('run/fifo'), 0o620);
    assert.equal(owner('run/fifo'), '1000:0');
  });

  test('xattrs from PAX SCHILY.xattr: user.* and security.capability', () => {
    assert.equal(lgetxattr(join(diff, 'srv/attrs'), 'user.foo')?.toString(), 'bar');
    assert.deepEqual(lgetxattr(join(diff, 'srv/attrs'), 'user.bin'), Buffer.from([0, 0xff, 0x0a, 0x3d]));
    assert.deepEqual(llistxattr(join(diff, 'srv/attrs')).sort(), ['user.bin', 'user.foo']);
    // Set after chown (which clears file capabilities), so it survives.
    assert.deepEqual(lgetxattr(join(diff, 'bin/ping'), 'security.capability'), CAP_NET_RAW_EP);
    assert.equal(mode('bin/ping'), 0o755);
    // Files without xattrs in the archive have none.
    assert.deepEqual(llistxattr(join(diff, 'etc/hostname')), []);
  });

  test('long names: >100 bytes and >255 bytes via PAX, >255 via GNU "L"', () => {
    assert.equal(readFileSync(join(diff, LONG.pax), 'utf8'), 'pax-long');
    assert.equal(readFileSync(join(diff, LONG.paxDeep), 'utf8'), 'pax-deep');
    assert.equal(readFileSync(join(diff, LONG.gnu), 'utf8'), 'gnu-long');
    assert.equal(readFileSync(join(diff, 'links/utf8-日本語'), 'utf8'), 'こんにちは');
    // No truncated twin from the 100-byte header name.
    assert.deepEqual(readdirSync(join(diff, 'p')).sort(), ['a'.repeat(120), 'x'.repeat(150)]);
    assert.deepEqual(readdirSync(join(diff, 'g')), ['c'.repeat(120)]);
  });

  test('whiteouts: in a layer on nothing they hide nothing, so none is made (the export keeps them)', () => {
    for (const rel of ['etc/motd', 'old']) assert.throws(() => st(rel), { code: 'ENOENT' }, rel);
    assert.ok(!readdirSync(diff).some((n) => n.startsWith('.wh.')), 'no .wh. file stays in the layer');
    assert.ok(!readdirSync(join(diff, 'etc')).some((n) => n.startsWith('.wh.')));
  });

  test('whiteouts: on a parent that has the paths, ".wh.NAME" becomes a 0/0 character device NAME with mode 0', async () => {
    const parent = new TarBuilder().file('etc/motd', 'hello\n').dir('old').file('old/x', 'x').build();
    await ts.store.createLayer({ name: 'lower', source: ts.input('lower.tar', parent) });
    const { layer: child } = await ts.store.createLayer({ name: 'every-child', source: ts.input('every.tar', tar), parent: 'lower' });
    for (const rel of ['etc/motd', 'old']) {
      const s = lstatSync(join(child.path, rel), { bigint: true });
      assert.ok(s.isCharacterDevice(), rel);
      assert.equal(s.rdev, 0n, rel);
      assert.equal(Number(s.mode & 0o7777n), 0, rel);
    }
  });

  test('opaque dirs: ".wh..wh..opq" sets trusted.overlay.opaque=y; the dir keeps its children', () => {
    assert.equal(lgetxattr(join(diff, 'var/cache'), 'trusted.overlay.opaque')?.toString(), 'y');
    // Cross-check with attr's getfattr, outside shibafu's own xattr code.
    const viaGetfattr = execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', join(diff, 'var/cache')], { encoding: 'utf8' });
    assert.equal(viaGetfattr, 'y');
    assert.deepEqual(readdirSync(join(diff, 'var/cache')), ['kept']);
    assert.equal(lgetxattr(join(diff, 'var'), 'trusted.overlay.opaque'), null);
    assert.equal(lgetxattr(join(diff, 'etc'), 'trusted.overlay.opaque'), null);
  });

  test('nothing else is in the layer', () => {
    const all: string[] = [];
    const walk = (rel: string): void => {
      for (const n of readdirSync(join(diff, rel))) {
        const r = rel === '' ? n : `${rel}/${n}`;
        all.push(r);
        if (st(r).isDirectory()) walk(r);
      }
    };
    walk('');
    assert.deepEqual(all.sort(), [
      'bin', 'bin/busybox', 'bin/ls', 'bin/ping', 'bin/sh', 'bin/su', 'bin/wall',
      'dev', 'dev/null', 'dev/sda1', 'etc', 'etc/empty', 'etc/hostname',
      'g', `g/${'c'.repeat(120)}`, LONG.gnu,
      'links', 'links/dir-after-children', 'links/dir-after-children/x', 'links/gnu', 'links/hard-gnu', 'links/hard-pax',
      'links/pax', 'links/space name', 'links/utf8-日本語',
      'p', `p/${'a'.repeat(120)}`, LONG.paxDeep, LONG.pax,
      'run', 'run/fifo', 'srv', 'srv/attrs', 'srv/bigid', 'srv/data', 'srv/frac', 'srv/micro', 'srv/sub', 'srv/sub/leaf',
      'tmp', 'var', 'var/cache', 'var/cache/kept',
    ].sort());
  });
});

describe('compressed and streamed input, told apart by magic bytes', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  const tar = everyEntryArchive();

  test('gzip named foo.tar: same diffId, blob digest of the gzip file, gzip media type', async () => {
    const gz = gzip(tar);
    const { layer, existed } = await ts.store.createLayer({ name: 'gz', source: ts.input('foo.tar', gz) });
    assert.equal(existed, false);
    assert.equal(layer.diffId, sha256(tar));
    assert.deepEqual(layer.blob, { digest: sha256(gz), size: gz.length, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    assert.equal(lgetxattr(join(layer.path, 'var/cache'), 'trusted.overlay.opaque')?.toString(), 'y');
    assert.ok(readFileSync(join(layer.path, 'bin/busybox')).equals(BUSYBOX));
  });

  test('zstd named layer.tar.gz: the same layer again (existed), zstd detected', async () => {
    const z = zstd(tar);
    const { layer, existed } = await ts.store.createLayer({ name: 'zst', source: ts.input('layer.tar.gz', z) });
    // Same uncompressed tar, same (no) parent: the same layer, a second name.
    assert.equal(existed, true);
    assert.equal(layer.diffId, sha256(tar));
    assert.deepEqual(layer.names.sort(), ['gz', 'zst']);
  });

  test('zstd into a fresh store: blob digest of the zstd bytes, zstd media type', async () => {
    const other = makeTempStore();
    const z = zstd(tar);
    const { layer } = await other.store.createLayer({ name: 'zst', source: other.input('plain-name', z) });
    assert.equal(layer.diffId, sha256(tar));
    assert.deepEqual(layer.blob, { digest: sha256(z), size: z.length, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' });
    assert.equal(readFileSync(join(layer.path, 'etc/hostname'), 'utf8'), 'shibafu\n');
    assert.equal(Number(lstatSync(join(layer.path, 'bin/su')).mode & 0o7777), 0o4755);
  });

  test('zstd:chunked-like (skippable frames first, between and last): the same tar, its blob kept and exported as it came', async () => {
    const other = makeTempStore();
    const chunked = zstdChunked(tar, 4096);
    assert.equal(chunked.readUInt32LE(0), 0x184d2a50, 'the stream starts with a skippable frame');
    const { layer } = await other.store.createLayer({ name: 'chunked', source: other.input('layer', chunked) });
    assert.equal(layer.diffId, sha256(tar));
    assert.deepEqual(layer.blob, { digest: sha256(chunked), size: chunked.length, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' });
    assert.ok(readFileSync(join(layer.path, 'bin/busybox')).equals(BUSYBOX));
    for (const [compression, want] of [['zstd', chunked], ['none', tar]] as const) {
      const out = new PassThrough();
      const parts: Buffer[] = [];
      out.on('data', (b: Buffer) => parts.push(b));
      await other.store.exportLayer('chunked', { stream: out }, { compression });
      assert.ok(Buffer.concat(parts).equals(want), `export --compression ${compression}`);
    }
  });

  test('stdin: a Readable source in small chunks', async () => {
    const other = makeTempStore();
    const gz = gzip(tar);
    // 1000-byte chunks: headers, PAX records and the gzip magic all straddle chunk boundaries.
    const chunks = Array.from({ length: Math.ceil(gz.length / 1000) }, (_, i) => gz.subarray(i * 1000, (i + 1) * 1000));
    const { layer } = await other.store.createLayer({ name: 'stdin', source: Readable.from(chunks) });
    assert.equal(layer.diffId, sha256(tar));
    assert.equal(layer.blob?.digest, sha256(gz));
    assert.ok(lstatSync(join(layer.path, 'dev/sda1')).isBlockDevice());
  });

  test('stdin through the CLI: `shibafu layer create NAME -`', async () => {
    const other = makeTempStore({ open: false });
    const z = zstd(tar);
    const r = await runCli(['--root', other.root, 'layer', 'create', 'piped', '-', '--json'], { stdin: z });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as LayerDetails & { existed: boolean };
    assert.equal(out.existed, false);
    assert.equal(out.diffId, sha256(tar));
    assert.deepEqual(out.blob, { digest: sha256(z), size: z.length, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' });
    assert.deepEqual(out.names, ['piped']);
    assert.equal(readFileSync(join(out.path, 'srv/data'), 'utf8'), 'data');
  });
});

describe('hardlinks to symlinks (`ln sh ash` on a symlink, as busybox images have)', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  let tar: Buffer;
  before(() => {
    // GNU ln makes a hard link to the symlink itself (-P); GNU tar archives the second name as a link entry.
    const src = join(ts.base, 'ln-src');
    execFileSync('mkdir', ['-p', join(src, 'bin'), join(src, 'usr/bin')]);
    execFileSync('ln', ['-s', '/bin/busybox', join(src, 'bin/sh')]);
    execFileSync('ln', [join(src, 'bin/sh'), join(src, 'bin/ash')]);
    execFileSync('ln', [join(src, 'bin/sh'), join(src, 'usr/bin/sh')]);
    execFileSync('ln', ['-s', '../../canary/etc/passwd', join(src, 'bin/up')]);
    execFileSync('ln', [join(src, 'bin/up'), join(src, 'bin/up2')]);
    tar = execFileSync('tar', ['--format=pax', '--sort=name', '-cf', '-', '-C', src, 'bin', 'usr']);
    const listing = execFileSync('tar', ['-tvf', '-'], { input: tar, encoding: 'utf8' });
    assert.match(listing, /^h.* bin\/sh link to bin\/ash$/m, 'the fixture holds hardlink entries to symlinks');
  });

  test('imported on no parent and on a parent: one symlink inode under every name, exported byte for byte', async () => {
    await ts.store.createLayer({ name: 'parent', source: ts.input('p.tar', new TarBuilder().file('bin/busybox', 'bb').build()) });
    for (const [name, parent] of [['root', undefined], ['child', 'parent']] as const) {
      const { layer } = await ts.store.createLayer({ name, source: ts.input(`${name}.tar`, tar), ...(parent !== undefined ? { parent } : {}) });
      const at = (rel: string): BigIntStats => lstatSync(join(layer.path, rel), { bigint: true });
      for (const rel of ['bin/ash', 'bin/sh', 'usr/bin/sh']) {
        assert.ok(at(rel).isSymbolicLink(), `${name}: ${rel}`);
        assert.equal(at(rel).ino, at('bin/ash').ino, `${name}: ${rel}`);
        assert.equal(readlinkSync(join(layer.path, rel)), '/bin/busybox');
      }
      assert.equal(at('bin/ash').nlink, 3n);
      assert.equal(at('bin/up2').ino, at('bin/up').ino);
      assert.equal(readlinkSync(join(layer.path, 'bin/up2')), '../../canary/etc/passwd');
      const file = join(ts.inputs, `${name}-export.tar`);
      const out = await runCli(['--root', ts.root, 'layer', 'export', name, '-o', file]);
      assert.equal(out.status, 0, out.stderr);
      assert.ok(readFileSync(file).equals(tar), `${name}: the export is the archive`);
      assert.equal(layer.diffId, sha256(tar));
    }
    // Nothing the symlinks name was linked or changed.
    assert.equal(lstatSync(join(ts.canary, 'etc/passwd')).nlink, 1);
  });

  test('a mounted stack shows every name as the symlink', async () => {
    const target = join(ts.base, 'mnt');
    execFileSync('mkdir', ['-p', target]);
    const r = await runCli(['--root', ts.root, 'layer', 'mount', 'child', target]);
    assert.equal(r.status, 0, r.stderr);
    try {
      for (const rel of ['bin/ash', 'bin/sh', 'usr/bin/sh']) assert.equal(readlinkSync(join(target, rel)), '/bin/busybox');
      assert.equal(readFileSync(join(target, 'bin/busybox'), 'utf8'), 'bb');
    } finally {
      assert.equal((await runCli(['--root', ts.root, 'layer', 'umount', target])).status, 0);
    }
  });
});
