import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isShibafuError } from '../errors.js';
import { encodeHeader, encodePax, paddingFor } from './tar-header.js';
import type { HeaderInit } from './tar-header.js';
import { TarParser } from './tar-parser.js';
import type { TarEntry } from './tar-entry.js';
import type { SparseFormat } from './sparse-map.js';
import { sparseData, TarBuilder } from '../../test/helpers/tar-builder.js';

// ---- a tiny in-memory archive builder (the codec under test writes the headers) ----

function member(h: HeaderInit, data: Buffer | string = ''): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const size = h.size ?? body.length;
  return Buffer.concat([encodeHeader({ mode: 0o644, ...h, size }), body, Buffer.alloc(paddingFor(body.length))]);
}

function pax(records: Array<readonly [string, string | Buffer]>, typeflag = 'x', name = 'PaxHeaders/x'): Buffer {
  return member({ name, typeflag }, encodePax(records));
}

function gnuLong(value: string, typeflag: 'L' | 'K'): Buffer {
  return member({ name: '././@LongLink', typeflag, format: 'gnu' }, Buffer.from(value + '\0'));
}

const END = Buffer.alloc(1024);

interface Parsed {
  entries: Array<TarEntry & { data: string }>;
  /** raw and data in call order, concatenated. */
  replay: Buffer;
  ends: number;
}

function parse(tar: Buffer, chunk = tar.length || 1): Parsed {
  const entries: Parsed['entries'] = [];
  const replay: Buffer[] = [];
  let data: Buffer[] = [];
  let ends = 0;
  let open = false;
  const p = new TarParser({
    onEntry: (e) => {
      assert.equal(open, false, 'onEntry while an entry is open');
      open = true;
      entries.push({ ...e, data: '' });
    },
    onData: (c) => {
      assert.ok(open && c.length > 0);
      data.push(Buffer.from(c));
      replay.push(Buffer.from(c));
    },
    onEntryEnd: () => {
      assert.ok(open);
      open = false;
      entries[entries.length - 1]!.data = Buffer.concat(data).toString('latin1');
      data = [];
      ends++;
    },
    onRaw: (b) => {
      assert.ok(b.length > 0);
      replay.push(Buffer.from(b));
    },
  });
  for (let i = 0; i < tar.length; i += chunk) p.write(tar.subarray(i, i + chunk));
  p.end();
  assert.equal(p.bytesConsumed, tar.length);
  return { entries, replay: Buffer.concat(replay), ends };
}

function sample(): Buffer {
  const longPath = `deep/${'d'.repeat(120)}/${'f'.repeat(90)}.txt`;
  return Buffer.concat([
    pax([['comment', 'global'], ['SCHILY.xattr.user.g', 'G']], 'g', 'GlobalHead'),
    member({ name: 'etc/', typeflag: '5', mode: 0o755, mtime: 1700000000 }),
    member({ name: 'etc/hostname', typeflag: '0', uid: 1, gid: 2, mtime: 1700000001 }, 'box\n'),
    pax([['path', longPath], ['mtime', '1700000002.5'], ['SCHILY.xattr.user.k', Buffer.from([0, 255, 10])]]),
    member({ name: 'ignored-by-pax', typeflag: '0' }, 'x'.repeat(1000)),
    gnuLong('l'.repeat(150), 'L'),
    gnuLong('t'.repeat(130), 'K'),
    member({ name: 'short', typeflag: '2', format: 'gnu' }),
    member({ name: 'bin', typeflag: '1', linkname: 'etc/hostname' }),
    member({ name: 'empty', typeflag: '0' }),
    member({ name: 'dev/null', typeflag: '3', devmajor: 1, devminor: 3, mode: 0o666 }),
    member({ name: 'blk', typeflag: '4', devmajor: 8, devminor: 0 }),
    member({ name: 'pipe', typeflag: '6' }),
    member({ name: 'c', typeflag: '7' }, 'contiguous'),
    END,
  ]);
}

test('entries are fully resolved: PAX > GNU long name > name, global under local', () => {
  const { entries, ends } = parse(sample());
  assert.equal(ends, entries.length);
  const summary = entries.map((e) => [e.type, e.path, e.linkpath, e.size, e.data.length]);
  assert.deepEqual(summary, [
    ['dir', 'etc/', '', 0, 0],
    ['file', 'etc/hostname', '', 4, 4],
    ['file', `deep/${'d'.repeat(120)}/${'f'.repeat(90)}.txt`, '', 1000, 1000],
    ['symlink', 'l'.repeat(150), 't'.repeat(130), 0, 0],
    ['link', 'bin', 'etc/hostname', 0, 0],
    ['file', 'empty', '', 0, 0],
    ['char', 'dev/null', '', 0, 0],
    ['block', 'blk', '', 0, 0],
    ['fifo', 'pipe', '', 0, 0],
    ['file', 'c', '', 10, 10],
  ]);
  const [dir, host, long] = entries;
  assert.equal(dir!.mode, 0o755);
  assert.deepEqual(dir!.mtime, { sec: 1700000000, nsec: 0 });
  assert.deepEqual([host!.uid, host!.gid, host!.data], [1, 2, 'box\n']);
  assert.deepEqual(long!.mtime, { sec: 1700000002, nsec: 500000000 });
  assert.deepEqual([...long!.xattrs], [['user.g', Buffer.from('G')], ['user.k', Buffer.from([0, 255, 10])]]);
  assert.deepEqual([...host!.xattrs], [['user.g', Buffer.from('G')]]);
  assert.equal(entries[6]!.devmajor, 1);
  assert.equal(entries[6]!.devminor, 3);
  assert.equal(long!.headerOffset, 1024 + 512 + 1024 + 1024);
});

test('the same entries and data whatever the chunk sizes, and raw + data replays the input', () => {
  const tar = Buffer.concat([sample(), Buffer.from('trailing junk after the end marker')]);
  const whole = parse(tar);
  assert.deepEqual(whole.replay, tar);
  for (const size of [1, 7, 511, 512, 513, 4096]) {
    const got = parse(tar, size);
    assert.deepEqual(got.entries, whole.entries, `chunks of ${size}`);
    assert.deepEqual(got.replay, tar, `replay with chunks of ${size}`);
  }
});

test('truncation anywhere before the end marker is TAR_TRUNCATED', () => {
  const tar = sample();
  const endAt = tar.length - 1024;
  const fileAt = tar.indexOf('box\n');
  for (let len = 0; len < endAt + 512; len++) {
    assert.throws(
      () => parse(tar.subarray(0, len)),
      (e) => isShibafuError(e, 'TAR_TRUNCATED') && e.message.includes(`byte ${len}`),
      `prefix of ${len} bytes`,
    );
  }
  assert.throws(() => parse(tar.subarray(0, fileAt + 2)), /archive ends inside the data of "etc\/hostname" at byte/);
  assert.throws(() => parse(tar.subarray(0, fileAt + 6)), /inside the padding of "etc\/hostname"/);
  assert.throws(() => parse(tar.subarray(0, 300)), /inside a header block at byte 300/);
  assert.throws(() => parse(tar.subarray(0, endAt)), /without an end-of-archive block/);
  assert.throws(() => parse(tar.subarray(0, 512 + 20)), /inside the extended header \(header at byte 0\) at byte 532/);
  assert.throws(() => parse(tar.subarray(0, 512 + 100)), /inside the padding of the extended header \(header at byte 0\) at byte 612/);
  // One zero block suffices (GNU tar accepts it); anything after the marker is ignored.
  assert.equal(parse(tar.subarray(0, endAt + 512)).entries.length, 10);
  assert.equal(parse(Buffer.concat([tar, Buffer.alloc(10240, 7)])).entries.length, 10);
});

test('an extended header with no entry after it is an error', () => {
  assert.throws(() => parse(Buffer.concat([pax([['path', 'x']]), END])), (e) => isShibafuError(e, 'TAR_CORRUPT'));
  assert.throws(() => parse(pax([['path', 'x']])), /after an extended header, without its entry/);
});

test('a bad checksum in a later header names its offset', () => {
  const tar = Buffer.concat([member({ name: 'a', typeflag: '0' }, 'hello'), member({ name: 'b', typeflag: '0' }), END]);
  tar[1027] = tar[1027]! ^ 1;
  assert.throws(() => parse(tar), (e) => isShibafuError(e, 'TAR_CORRUPT') && /byte 1024/.test(e.message));
});

test('after an error the parser keeps failing', () => {
  const tar = Buffer.concat([member({ name: 'a', typeflag: '0' }), END]);
  tar[10] = 1;
  const p = new TarParser({ onEntry: () => {}, onData: () => {}, onEntryEnd: () => {} });
  assert.throws(() => p.write(tar), (e) => isShibafuError(e, 'TAR_CORRUPT'));
  assert.throws(() => p.write(END), (e) => isShibafuError(e, 'TAR_CORRUPT'));
  assert.throws(() => p.end(), (e) => isShibafuError(e, 'TAR_CORRUPT'));
});

test('volume, multi-volume and unknown typeflags are TAR_UNSUPPORTED with the path', () => {
  for (const t of ['V', 'M', 'N', 'D', 'Z', '8']) {
    const tar = Buffer.concat([pax([['path', 'var/the-file']]), member({ name: 'x', typeflag: t }), END]);
    assert.throws(() => parse(tar), (e) => isShibafuError(e, 'TAR_UNSUPPORTED') && e.message.includes('"var/the-file"'), t);
  }
});

const SPARSE_FORMATS: SparseFormat[] = ['gnu', 'pax-0.0', 'pax-0.1', 'pax-1.0'];
/** 30 segments: past the old GNU header's 4 slots and one 21-slot extension block. */
const MANY: Array<[number, number]> = Array.from({ length: 30 }, (_, i) => [i * 10_000, i === 29 ? 0 : 700 + i]);

test('GNU sparse files in all four layouts: one entry, its map, only the segments as data, in any chunking', () => {
  for (const format of SPARSE_FORMATS) {
    for (const spec of [
      { format, realSize: 300_000, map: MANY },
      { format, realSize: 3 << 20, map: [[1 << 20, 4096], [1998848, 4096], [3 << 20, 0]] as Array<[number, number]> },
      { format, realSize: 1 << 20, map: [[1 << 20, 0]] as Array<[number, number]> },
    ]) {
      const tar = new TarBuilder().file('before', 'b').sparse('dir/holes', spec).file('after', 'a').build();
      const whole = parse(tar);
      assert.deepEqual(whole.replay, tar, `${format}: raw + data replays the archive`);
      assert.deepEqual(whole.entries.map((e) => [e.path, e.type]), [['before', 'file'], ['dir/holes', 'file'], ['after', 'file']], format);
      const e = whole.entries[1]!;
      assert.deepEqual(e.sparse, { format, realSize: spec.realSize, offsets: spec.map.map(([o]) => o), sizes: spec.map.map(([, n]) => n) });
      assert.equal(e.size, sparseData(spec.map).length);
      assert.equal(e.data, sparseData(spec.map).toString('latin1'));
      assert.equal(whole.entries[0]!.sparse, undefined);
      for (const size of [1, 7, 511, 512, 513, 4096]) {
        const got = parse(tar, size);
        assert.deepEqual(got.entries, whole.entries, `${format} in chunks of ${size}`);
        assert.deepEqual(got.replay, tar, `${format} replay in chunks of ${size}`);
      }
    }
  }
});

test('a sparse archive cut inside its map is TAR_TRUNCATED; a lying map is TAR_CORRUPT', () => {
  const gnu = new TarBuilder().sparse('f', { format: 'gnu', realSize: 300_000, map: MANY }).build();
  assert.throws(() => parse(gnu.subarray(0, 512 + 100)), /archive ends inside the sparse map of "f" at byte 612/);
  const v1 = new TarBuilder().sparse('f', { format: 'pax-1.0', realSize: 300_000, map: MANY }).build();
  const dataAt = v1.indexOf('30\n0\n');
  assert.throws(() => parse(v1.subarray(0, dataAt + 20), 7), (e) => isShibafuError(e, 'TAR_TRUNCATED') && /sparse map/.test(e.message));
  // The entry's data ends (after one block) before its map does.
  const past = new TarBuilder().sparse('f', { format: 'pax-1.0', realSize: 100, map: [[0, 1]], data: Buffer.alloc(0), mapText: `1\n${'0'.repeat(509)}\n` }).build();
  assert.throws(() => parse(past), (e) => isShibafuError(e, 'TAR_CORRUPT') && /map runs past the entry's data/.test(e.message));
  const lies = new TarBuilder().sparse('f', { format: 'pax-0.1', realSize: 100, map: [[0, 10]], data: Buffer.alloc(11) }).build();
  assert.throws(() => parse(lies), (e) => isShibafuError(e, 'TAR_CORRUPT') && /places 10 bytes, the entry stores 11/.test(e.message));
});

test('sparse records in a global header or on something not a file are TAR_CORRUPT; maps are bounded', () => {
  const global = Buffer.concat([pax([['GNU.sparse.size', '10']], 'g'), member({ name: 'f', typeflag: '0' }), END]);
  assert.throws(() => parse(global), (e) => isShibafuError(e, 'TAR_CORRUPT') && /global PAX header/.test(e.message));
  const dir = Buffer.concat([pax([['GNU.sparse.size', '10'], ['GNU.sparse.map', '10,0']]), member({ name: 'd/', typeflag: '5' }), END]);
  assert.throws(() => parse(dir), (e) => isShibafuError(e, 'TAR_CORRUPT') && /on a dir/.test(e.message));
  // Old GNU extension blocks count against the extended-header limit.
  const many = new TarBuilder().sparse('f', { format: 'gnu', realSize: 10_000_000, map: Array.from({ length: 200 }, (_, i): [number, number] => [i * 10, 1]) }).build();
  assert.throws(() => new TarParser({ onEntry() {}, onData() {}, onEntryEnd() {} }, { maxExtendedSize: 2048 }).write(many),
    (e) => isShibafuError(e, 'LIMIT_EXCEEDED') && /map takes more than 2048 bytes/.test(e.message));
  assert.equal(parse(many).entries[0]!.sparse?.offsets.length, 200);
});

test('PAX times, numbers, LIBARCHIVE xattrs and unset keywords', () => {
  const tar = Buffer.concat([
    pax([['uid', '4000000000'], ['gid', '7'], ['uname', 'ü'], ['mtime', '-1.25'], ['atime', '5.000000001999']], 'g'),
    pax([['LIBARCHIVE.xattr.user.a%3Db', Buffer.from('v1').toString('base64')], ['SCHILY.xattr.user.e', '']]),
    member({ name: 'one', typeflag: '0' }),
    pax([['uid', ''], ['size', '3']]),
    member({ name: 'two', typeflag: '0', uid: 9, size: 0 }, 'abc'),
    END,
  ]);
  const [one, two] = parse(tar, 13).entries;
  assert.deepEqual([one!.uid, one!.gid, one!.uname], [4000000000, 7, 'ü']);
  assert.deepEqual(one!.mtime, { sec: -2, nsec: 750000000 });
  assert.deepEqual(one!.atime, { sec: 5, nsec: 1 });
  assert.deepEqual([...one!.xattrs], [['user.a=b', Buffer.from('v1')], ['user.e', Buffer.alloc(0)]]);
  // An empty local value unsets the global uid; the PAX size drives the data.
  assert.deepEqual([two!.uid, two!.size, two!.data, two!.xattrs.size], [9, 3, 'abc', 0]);
});

test('bad PAX numbers are TAR_CORRUPT', () => {
  for (const [k, v] of [['size', '12x'], ['uid', '-1'], ['mtime', '1.2.3'], ['size', '99999999999999999999']]) {
    const tar = Buffer.concat([pax([[k!, v!]]), member({ name: 'f', typeflag: '0' }), END]);
    assert.throws(() => parse(tar), (e) => isShibafuError(e, 'TAR_CORRUPT'), `${k}=${v}`);
  }
});

test('extended records over the limit are LIMIT_EXCEEDED before they are buffered', () => {
  const big = encodeHeader({ name: 'PaxHeaders/x', typeflag: 'x', size: 1024 * 1024 + 1 });
  const p = new TarParser({ onEntry: () => {}, onData: () => {}, onEntryEnd: () => {} });
  assert.throws(() => p.write(big), (e) => isShibafuError(e, 'LIMIT_EXCEEDED') && /byte 0/.test(e.message));
  const small = Buffer.concat([gnuLong('n'.repeat(200), 'L'), member({ name: 'f', typeflag: '0' }), END]);
  assert.throws(() => new TarParser({ onEntry() {}, onData() {}, onEntryEnd() {} }, { maxExtendedSize: 100 }).write(small),
    (e) => isShibafuError(e, 'LIMIT_EXCEEDED'));
});

test('names that are not UTF-8 are refused; the names of PAX headers themselves are not read', () => {
  const bad = member({ name: 'ab', typeflag: '0' });
  bad[1] = 0xe9;
  bad.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += bad[i]!;
  bad.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  assert.throws(() => parse(Buffer.concat([bad, END])), (e) => isShibafuError(e, 'TAR_UNSUPPORTED') && /UTF-8/.test(e.message));
  // The same header behind a PAX path is fine: the PAX path wins.
  assert.equal(parse(Buffer.concat([pax([['path', 'good']]), bad, END])).entries[0]!.path, 'good');
  assert.throws(() => parse(Buffer.concat([pax([['path', Buffer.from([0x61, 0xff])]]), member({ name: 'x', typeflag: '0' }), END])),
    (e) => isShibafuError(e, 'TAR_UNSUPPORTED'));
});

test('payload of non-file members follows GNU tar: skipped except for hard links and directories', () => {
  const tar = Buffer.concat([
    member({ name: 'sym', typeflag: '2', linkname: 't' }, 'not a header'),
    member({ name: 'hl', typeflag: '1', linkname: 'sym', size: 512 }),
    member({ name: 'd/', typeflag: '5', size: 512 }),
    member({ name: 'f', typeflag: '0', mode: 0o100644 }, 'x'),
    member({ name: 'old/', typeflag: '\0' }),
    END,
  ]);
  const { entries, replay } = parse(tar, 100);
  assert.deepEqual(entries.map((e) => [e.type, e.path, e.size, e.data]), [
    ['symlink', 'sym', 0, ''],
    ['link', 'hl', 0, ''],
    ['dir', 'd/', 0, ''],
    ['file', 'f', 1, 'x'],
    ['dir', 'old/', 0, ''],
  ]);
  assert.equal(entries[3]!.mode, 0o644);
  assert.deepEqual(replay, tar);
});

test('large files stream as views of the input without copies', () => {
  const data = Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a);
  const tar = Buffer.concat([member({ name: 'big', typeflag: '0' }, data), END]);
  const hash = createHash('sha256');
  let views = 0;
  const p = new TarParser({
    onEntry: () => {},
    onData: (c) => {
      assert.equal(c.buffer, tar.buffer);
      views++;
      hash.update(c);
    },
    onEntryEnd: () => {},
  });
  p.write(tar);
  p.end();
  assert.equal(views, 1);
  assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
  assert.equal(p.ended, true);
});
