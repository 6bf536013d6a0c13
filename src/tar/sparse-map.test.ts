import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isShibafuError } from '../errors.js';
import {
  checkSparseMap, feedSparseMapText, hasSparseRecords, paxSparse, placeSparse, readGnuSparseExtension, readGnuSparseHeader,
  sparseMapText, sparsePairs0, type SparseMap,
} from './sparse-map.js';
import { encodePax } from './tar-header.js';

const map = (realSize: number, pairs: Array<[number, number]>): SparseMap => ({
  format: 'gnu', realSize, offsets: pairs.map(([o]) => o), sizes: pairs.map(([, n]) => n),
});
const corrupt = (pattern: RegExp) => (e: unknown) => isShibafuError(e, 'TAR_CORRUPT') && pattern.test(e.message);

function octal(n: number): string {
  return `${n.toString(8).padStart(11, '0')}\0`;
}

test('GNU.sparse.* keywords are found in a header\'s records; GNU.sparse.name alone makes no map', () => {
  assert.equal(hasSparseRecords(new Map([['mtime', Buffer.from('1')], ['GNU.sparse.major', Buffer.from('1')]])), true);
  assert.equal(hasSparseRecords(new Map([['path', Buffer.from('y')], ['mtime', Buffer.from('1')]])), false);
  const named = new Map([['GNU.sparse.name', Buffer.from('x')]]);
  assert.equal(hasSparseRecords(named), true);
  assert.deepEqual(paxSparse((k) => named.get(k), null, 0, 'x'), { kind: 'none' });
});

test('old GNU header: four slots, an empty numbytes ends the map, extension blocks of 21', () => {
  const h = Buffer.alloc(512);
  h.write(octal(0), 386, 'latin1');
  h.write(octal(4096), 398, 'latin1');
  h.write(octal(65536), 410, 'latin1');
  h.write(octal(10), 422, 'latin1');
  h.write(octal(1 << 20), 483, 'latin1');
  const head = readGnuSparseHeader(h, 0, 0, 'gnu', 'f');
  assert.deepEqual([head.realSize, head.offsets, head.sizes, head.extended], [1 << 20, [0, 65536], [4096, 10], false]);
  // Slots 2 and 3 are empty: the map ended, so an extension flag would be a lie.
  h[482] = 1;
  assert.throws(() => readGnuSparseHeader(h, 0, 0, 'gnu', 'f'), corrupt(/extension block is announced/));

  const full = Buffer.alloc(512);
  for (let i = 0; i < 4; i++) {
    full.write(octal(i * 100), 386 + i * 24, 'latin1');
    full.write(octal(1), 398 + i * 24, 'latin1');
  }
  full[482] = 1;
  full.write(octal(5000), 483, 'latin1');
  const h2 = readGnuSparseHeader(full, 0, 0, 'gnu', 'f');
  assert.equal(h2.extended, true);
  const ext = Buffer.alloc(512);
  ext.write(octal(4000), 0, 'latin1');
  ext.write(octal(2), 12, 'latin1');
  readGnuSparseExtension(ext, 0, 0, h2, 'f');
  assert.deepEqual([h2.offsets, h2.sizes, h2.extended], [[0, 100, 200, 300, 4000], [1, 1, 1, 1, 2], false]);
  // A slot after the end of the map is refused, as is the 'S' layout outside GNU's header.
  ext.write(octal(4500), 48, 'latin1');
  ext.write(octal(1), 60, 'latin1');
  assert.throws(() => readGnuSparseExtension(ext, 0, 0, { ...h2, offsets: [], sizes: [], ended: false }, 'f'), corrupt(/follows the end of the map/));
  assert.throws(() => readGnuSparseHeader(full, 0, 0, 'ustar', 'f'), (e) => isShibafuError(e, 'TAR_UNSUPPORTED'));
});

test('PAX 0.0, 0.1 and 1.0', () => {
  const get = (records: Record<string, string>) => (k: string) => (records[k] === undefined ? undefined : Buffer.from(records[k]!));
  const v00 = paxSparse(get({ 'GNU.sparse.size': '100', 'GNU.sparse.numblocks': '2' }), [0, 10, 50, 5], 0, 'f');
  assert.deepEqual(v00, { kind: 'map', map: { format: 'pax-0.0', realSize: 100, offsets: [0, 50], sizes: [10, 5] } });
  const v01 = paxSparse(get({ 'GNU.sparse.size': '100', 'GNU.sparse.numblocks': '1', 'GNU.sparse.map': '7,3' }), null, 0, 'f');
  assert.deepEqual(v01, { kind: 'map', map: { format: 'pax-0.1', realSize: 100, offsets: [7], sizes: [3] } });
  assert.deepEqual(paxSparse(get({ 'GNU.sparse.size': '0', 'GNU.sparse.map': '' }), null, 0, 'f'),
    { kind: 'map', map: { format: 'pax-0.1', realSize: 0, offsets: [], sizes: [] } });
  assert.deepEqual(paxSparse(get({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '9' }), null, 0, 'f'),
    { kind: 'in-data', realSize: 9 });

  assert.throws(() => paxSparse(get({ 'GNU.sparse.major': '2', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '9' }), null, 0, 'f'),
    (e) => isShibafuError(e, 'TAR_UNSUPPORTED') && /format 2\.0/.test(e.message));
  assert.throws(() => paxSparse(get({ 'GNU.sparse.numblocks': '1', 'GNU.sparse.map': '0,1' }), null, 0, 'f'), corrupt(/no real size/));
  assert.throws(() => paxSparse(get({ 'GNU.sparse.size': '9' }), null, 0, 'f'), corrupt(/no map/));
  assert.throws(() => paxSparse(get({ 'GNU.sparse.size': '9', 'GNU.sparse.map': '1,2,3' }), null, 0, 'f'), corrupt(/offset without a size/));
  assert.throws(() => paxSparse(get({ 'GNU.sparse.size': '9', 'GNU.sparse.map': '1,x' }), null, 0, 'f'), corrupt(/not a number/));
  assert.throws(() => paxSparse(get({ 'GNU.sparse.size': '9', 'GNU.sparse.numblocks': '5', 'GNU.sparse.map': '1,2' }), null, 0, 'f'), corrupt(/numblocks says 5/));
  assert.throws(() => paxSparse(get({ 'GNU.sparse.size': '9', 'GNU.sparse.map': '1,2' }), [1, 2], 0, 'f'), corrupt(/both/));
  assert.throws(() => paxSparse(get({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '9', 'GNU.sparse.map': '1,2' }), null, 0, 'f'), corrupt(/in the data/));
  assert.throws(() => paxSparse(get({ 'GNU.sparse.size': '99999999999999999999', 'GNU.sparse.map': '' }), null, 0, 'f'), corrupt(/not a number/));
});

test('format 0.0 pairs keep their order and must alternate, an offset first', () => {
  const body = (records: Array<[string, string]>) => encodePax(records);
  assert.deepEqual(sparsePairs0(body([['GNU.sparse.size', '9'], ['GNU.sparse.offset', '1'], ['GNU.sparse.numbytes', '2'], ['mtime', '1'], ['GNU.sparse.offset', '5'], ['GNU.sparse.numbytes', '0']]), 0), [1, 2, 5, 0]);
  assert.throws(() => sparsePairs0(body([['GNU.sparse.numbytes', '2']]), 0), corrupt(/alternate/));
  assert.throws(() => sparsePairs0(body([['GNU.sparse.offset', '1'], ['GNU.sparse.offset', '2']]), 0), corrupt(/alternate/));
});

test('a map must be sorted, apart, inside the real size, and add up to the stored bytes', () => {
  checkSparseMap(map(100, [[0, 10], [10, 5], [90, 10], [100, 0]]), 25, 'f', 0);
  checkSparseMap(map(0, []), 0, 'f', 0);
  assert.throws(() => checkSparseMap(map(100, [[50, 10], [0, 10]]), 20, 'f', 7), corrupt(/"f" at byte 7: segment 1 at 0 starts before the end of the one before it \(60\)/));
  assert.throws(() => checkSparseMap(map(100, [[0, 10], [5, 10]]), 20, 'f', 0), corrupt(/sorted and apart/));
  assert.throws(() => checkSparseMap(map(100, [[95, 10]]), 10, 'f', 0), corrupt(/ends past the file's real size of 100/));
  assert.throws(() => checkSparseMap(map(100, [[200, 0]]), 0, 'f', 0), corrupt(/ends past/));
  assert.throws(() => checkSparseMap(map(2 ** 53 - 1, [[2 ** 53 - 2, 2 ** 52]]), 2 ** 52, 'f', 0), corrupt(/ends past/));
  assert.throws(() => checkSparseMap(map(100, [[0, 10]]), 11, 'f', 0), corrupt(/places 10 bytes, the entry stores 11/));
  assert.throws(() => checkSparseMap(map(100, [[0, 10]]), 9, 'f', 0), corrupt(/places 10 bytes, the entry stores 9/));
});

test('format 1.0 map text decodes the same in any split, and stops after its last line', () => {
  const text = Buffer.from('3\n0\n4096\n1048576\n10\n2000000\n0\nrest');
  for (const step of [1, 2, 7, text.length]) {
    const st = sparseMapText();
    let at = 0;
    while (!st.done) at = feedSparseMapText(st, text, at, Math.min(text.length, at + step), 1 << 20, 'f', 0);
    assert.equal(text.subarray(at).toString(), 'rest', `step ${step}`);
    assert.deepEqual([st.offsets, st.sizes, st.bytes], [[0, 1048576, 2000000], [4096, 10, 0], text.length - 4]);
  }
  const empty = sparseMapText();
  assert.equal(feedSparseMapText(empty, Buffer.from('0\nxyz'), 0, 5, 100, 'f', 0), 2);
  assert.equal(empty.done, true);
});

test('format 1.0 map text: bad bytes are TAR_CORRUPT, a map past its byte limit LIMIT_EXCEEDED at once', () => {
  const feed = (s: string, max = 1 << 20) => feedSparseMapText(sparseMapText(), Buffer.from(s), 0, s.length, max, 'f', 0);
  assert.throws(() => feed('1\n0x\n'), corrupt(/byte 0x78/));
  assert.throws(() => feed('1\n\n'), corrupt(/empty line/));
  assert.throws(() => feed('1\n99999999999999999999\n'), corrupt(/too large/));
  // A billion segments announced: refused on the count, before any of them is read.
  assert.throws(() => feed('1000000000\n'), (e) => isShibafuError(e, 'LIMIT_EXCEEDED'));
  assert.throws(() => feed(`2\n${'0'.repeat(200)}`, 100), (e) => isShibafuError(e, 'LIMIT_EXCEEDED'));
});

test('placeSparse spreads stored bytes over the segments, across chunk and segment boundaries', () => {
  const m = map(100, [[0, 3], [10, 0], [20, 4], [99, 1]]);
  const cur = { index: 0, written: 0 };
  const pieces: Array<[number, number, number]> = [];
  for (const len of [2, 3, 2, 1]) {
    const got: Array<[number, number, number]> = [];
    placeSparse(m, cur, len, (from, n, pos) => got.push([from, n, pos]));
    pieces.push(...got.map(([from, n, pos]) => [len, n, pos] as [number, number, number]));
    assert.equal(got.reduce((s, [, n]) => s + n, 0), len);
  }
  assert.deepEqual(pieces.map(([, n, pos]) => [n, pos]), [[2, 0], [1, 2], [2, 20], [2, 22], [1, 99]]);
  assert.throws(() => placeSparse(m, cur, 1, () => {}), (e) => isShibafuError(e, 'INTERNAL'));
});
