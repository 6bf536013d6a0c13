import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isShibafuError } from '../errors.js';
import { BLOCK_SIZE, decodeHeader, encodeHeader, encodePax, paddingFor, parsePax } from './tar-header.js';

test('a ustar header round-trips every field', () => {
  const block = encodeHeader({
    name: 'usr/bin/env',
    typeflag: '0',
    mode: 0o4755,
    uid: 1000,
    gid: 100,
    size: 12345,
    mtime: 1700000000,
    uname: 'alice',
    gname: 'users',
  });
  assert.equal(block.length, BLOCK_SIZE);
  assert.equal(block.toString('latin1', 257, 265), 'ustar\x0000');
  const h = decodeHeader(block, 0);
  assert.deepEqual(h, {
    name: 'usr/bin/env',
    mode: 0o4755,
    uid: 1000,
    gid: 100,
    size: 12345,
    mtime: 1700000000,
    typeflag: '0',
    linkname: '',
    format: 'ustar',
    uname: 'alice',
    gname: 'users',
    devmajor: 0,
    devminor: 0,
    prefix: '',
    nameUtf8: true,
    linknameUtf8: true,
  });
});

test('names of exactly 100 bytes, the prefix field and multi-byte UTF-8 decode intact', () => {
  const name = 'n'.repeat(97) + 'é'; // 99 bytes
  const full = 'a'.repeat(100);
  const prefix = 'p/'.repeat(77) + 'q'; // 155 bytes
  const h = decodeHeader(encodeHeader({ name: full, typeflag: '0', prefix, linkname: name }), 512);
  assert.equal(h?.name, full);
  assert.equal(h?.prefix, prefix);
  assert.equal(h?.linkname, name);
});

test('a name over its field is refused by the encoder', () => {
  assert.throws(() => encodeHeader({ name: 'a'.repeat(101), typeflag: '0' }), (e) => isShibafuError(e, 'TAR_UNSUPPORTED'));
  assert.throws(() => encodeHeader({ name: 'é'.repeat(51), typeflag: '0' }), (e) => isShibafuError(e, 'TAR_UNSUPPORTED'));
});

test('devices keep their major and minor numbers', () => {
  const h = decodeHeader(encodeHeader({ name: 'dev/sda', typeflag: '4', devmajor: 8, devminor: 1048575 }));
  assert.equal(h?.typeflag, '4');
  assert.equal(h?.devmajor, 8);
  assert.equal(h?.devminor, 1048575);
});

test('values beyond octal use GNU base-256, both ways, including negative times', () => {
  const block = encodeHeader({ name: 'f', typeflag: '0', uid: 2 ** 32 - 2, gid: 2097152, size: 2 ** 40, mtime: -86400 });
  assert.equal(block[108], 0x80);
  assert.equal(block[136], 0xff);
  const h = decodeHeader(block);
  assert.equal(h?.uid, 2 ** 32 - 2);
  assert.equal(h?.gid, 2097152);
  assert.equal(h?.size, 2 ** 40);
  assert.equal(h?.mtime, -86400);
  // The largest octal values still use octal.
  const max = encodeHeader({ name: 'f', typeflag: '0', uid: 2097151, size: 8 ** 11 - 1 });
  assert.equal(max.toString('latin1', 108, 116), '7777777\0');
  assert.equal(max.toString('latin1', 124, 136), '77777777777\0');
});

test('an all-zero block is the end marker', () => {
  assert.equal(decodeHeader(Buffer.alloc(512)), null);
});

test('a bad checksum is TAR_CORRUPT naming the offset', () => {
  const block = encodeHeader({ name: 'f', typeflag: '0' });
  block[0] = 0x67;
  assert.throws(
    () => decodeHeader(block, 4096),
    (e) => isShibafuError(e, 'TAR_CORRUPT') && /byte 4096/.test(e.message) && /checksum/.test(e.message),
  );
});

test('signed checksums are accepted, as GNU tar does', () => {
  const block = encodeHeader({ name: 'caf\u00e9', typeflag: '0' }); // bytes >= 0x80 make the sums differ
  let signed = 8 * 0x20;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) signed += block[i]! >= 0x80 ? block[i]! - 256 : block[i]!;
  block.write(signed.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  assert.equal(decodeHeader(block)?.name, 'caf\u00e9');
});

test('GNU, v7 and space-terminated numeric fields decode', () => {
  const gnu = encodeHeader({ name: 'f', typeflag: '0', format: 'gnu', size: 7 });
  assert.equal(gnu.toString('latin1', 257, 265), 'ustar  \0');
  assert.equal(decodeHeader(gnu)?.format, 'gnu');
  // Old writers: "    644 " with leading and trailing spaces; no magic at all.
  const v7 = encodeHeader({ name: 'old', typeflag: '0', uname: 'x' });
  v7.write('    644 ', 100, 8, 'latin1');
  v7.fill(0, 257, 265);
  v7.fill(0, 265, 345);
  rewriteChecksum(v7);
  const h = decodeHeader(v7);
  assert.equal(h?.format, 'v7');
  assert.equal(h?.mode, 0o644);
  assert.equal(h?.uname, '');
});

test('a numeric field with garbage is TAR_CORRUPT', () => {
  const block = encodeHeader({ name: 'f', typeflag: '0' });
  block.write('0000008\0', 100, 8, 'latin1');
  rewriteChecksum(block);
  assert.throws(() => decodeHeader(block, 0), (e) => isShibafuError(e, 'TAR_CORRUPT') && /mode/.test(e.message));
});

test('names that are not UTF-8 are flagged, not replaced', () => {
  const block = encodeHeader({ name: 'ab', typeflag: '0', linkname: 'ok' });
  block[1] = 0xe9; // Latin-1 é
  rewriteChecksum(block);
  const h = decodeHeader(block);
  assert.equal(h?.nameUtf8, false);
  assert.equal(h?.linknameUtf8, true);
});

test('PAX records: lengths across digit boundaries are self-consistent', () => {
  // A record is digits + " " + key + "=" + value + "\n". Exhaustively: the stated length is the
  // record's length, and it parses back.
  const seen = new Set<number>();
  for (let valueLen = 0; valueLen <= 10_010; valueLen++) {
    const body = encodePax([['k', 'v'.repeat(valueLen)]]);
    assert.equal(Number(body.toString('latin1', 0, body.indexOf(0x20))), body.length, `value of ${valueLen} bytes`);
    assert.equal(parsePax(body).get('k')?.length, valueLen);
    seen.add(body.length);
  }
  // 99 and 101 exist; 100 cannot (a 98-byte rest + "100" is 101), likewise 1000 and 10000.
  assert.ok(seen.has(99) && seen.has(101) && !seen.has(100));
  assert.ok(seen.has(999) && seen.has(1001) && !seen.has(1000));
  assert.ok(seen.has(9999) && seen.has(10001) && !seen.has(10000));
  assert.equal(encodePax([['k', 'v'.repeat(93)]]).length, 99);
  assert.equal(encodePax([['k', 'v'.repeat(94)]]).length, 101);
  assert.equal(encodePax([['k', 'v'.repeat(992)]]).length, 999);
  assert.equal(encodePax([['k', 'v'.repeat(993)]]).length, 1001);
  // Multi-byte UTF-8 counts bytes, not characters: 'é' is 2 bytes, 46 of them + "path" = 99.
  assert.equal(encodePax([['path', 'é'.repeat(45)]]).toString('utf8', 0, 3), '99 ');
  assert.equal(encodePax([['path', 'é'.repeat(45) + 'x']]).toString('utf8', 0, 4), '101 ');
});

test('PAX records keep multi-byte UTF-8 and binary values', () => {
  const path = '日本語/ファイル名'.repeat(10);
  const bin = Buffer.from([0, 1, 0x0a, 0xff, 0x3d]);
  const body = encodePax([['path', path], ['SCHILY.xattr.user.bin', bin], ['mtime', '1.5']]);
  const rec = parsePax(body);
  assert.equal(rec.get('path')?.toString('utf8'), path);
  assert.deepEqual(rec.get('SCHILY.xattr.user.bin'), bin);
  assert.equal(rec.get('mtime')?.toString(), '1.5');
  // Later records win; trailing NUL padding is tolerated.
  const twice = Buffer.concat([encodePax([['path', 'a'], ['path', 'b']]), Buffer.alloc(20)]);
  assert.equal(parsePax(twice).get('path')?.toString(), 'b');
});

test('malformed PAX records are TAR_CORRUPT', () => {
  const bad = ['13 path=abc\n', '11 path=abc', 'x path=a\n', '6 =ab\n', '6 path\n', '11path=abc\n', '9 path=a\n\0x', '4 a=\n'];
  for (const s of bad) {
    assert.throws(() => parsePax(Buffer.from(s), 1536), (e) => isShibafuError(e, 'TAR_CORRUPT') && /byte 1536/.test(e.message), s);
  }
});

test('padding reaches the next block', () => {
  assert.deepEqual([0, 1, 511, 512, 513].map(paddingFor), [0, 511, 1, 0, 511]);
});

function rewriteChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
}
