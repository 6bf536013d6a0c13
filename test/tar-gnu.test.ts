/**
 * The parser against archives written by GNU tar 1.34 (/usr/bin/tar) in each of its formats.
 * Needs root (the fixture tree has devices, big uids and user xattrs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isShibafuError } from '../src/errors.js';
import { TarParser } from '../src/tar/tar-parser.js';
import type { TarEntry } from '../src/tar/tar-entry.js';
import { expectedEntries, isRoot, makeSourceTree, run, sha } from './fixtures/tar-trees.js';
import type { Expected } from './fixtures/tar-trees.js';
import { GNU_SPARSE_VERSIONS, SPARSE_FILES, gnuSparseTar, makeSparseTree } from './fixtures/sparse-archive.js';

const skip = isRoot ? false : 'needs root to build the fixture tree (mknod, chown)';

interface Parsed {
  entries: Array<TarEntry & { sha256: string; data: Buffer }>;
  replay: Buffer;
}

function parse(tar: Buffer, chunkSizes: number[]): Parsed {
  const entries: Parsed['entries'] = [];
  const replay: Buffer[] = [];
  let data: Buffer[] = [];
  const p = new TarParser({
    onEntry: (e) => entries.push({ ...e, sha256: '', data: Buffer.alloc(0) }),
    onData: (c) => {
      data.push(Buffer.from(c));
      replay.push(Buffer.from(c));
    },
    onEntryEnd: () => {
      const last = entries[entries.length - 1]!;
      if (last.type === 'file') last.sha256 = sha(Buffer.concat(data));
      if (last.sparse !== undefined) last.data = Buffer.concat(data);
      data = [];
    },
    onRaw: (b) => replay.push(Buffer.from(b)),
  });
  for (let i = 0, k = 0; i < tar.length; k++) {
    const n = chunkSizes[k % chunkSizes.length]!;
    p.write(tar.subarray(i, i + n));
    i += n;
  }
  p.end();
  return { entries, replay: Buffer.concat(replay) };
}

/** The parsed entries in the fixture's terms; GNU tar writes "./" paths and a "./" root entry. */
function asExpected(entries: Parsed['entries']): Expected[] {
  const strip = (p: string): string => (p.startsWith('./') ? p.slice(2) : p);
  return entries
    .filter((e) => e.path !== './')
    .map((e) => ({
      path: strip(e.path),
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtime: e.mtime.sec,
      size: e.size,
      linkpath: e.type === 'link' ? strip(e.linkpath) : e.linkpath,
      dev: e.type === 'char' || e.type === 'block' ? `${e.devmajor},${e.devminor}` : '',
      xattrs: [...e.xattrs].map(([k, v]) => `${k}=${v.toString('hex')}`).join(','),
      sha256: e.sha256,
    }));
}

function gnuTar(dir: string, args: string[]): Buffer {
  return run('tar', ['--sort=name', '--numeric-owner', ...args, '-cf', '-', '-C', dir, '.']);
}

for (const [format, portable, extra] of [
  ['gnu', false, []],
  ['oldgnu', false, []],
  ['pax', false, ['--xattrs', '--xattrs-include=*']],
  ['ustar', true, []],
] as const) {
  test(`GNU tar --format=${format}: every entry, field and byte, in any chunking`, { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'shibafu-gnu-'));
    try {
      makeSourceTree(dir, portable);
      const tar = gnuTar(dir, [`--format=${format}`, ...extra]);
      const whole = parse(tar, [tar.length]);
      assert.deepEqual(whole.replay, tar, 'raw + data reproduces the archive');
      const want = expectedEntries(dir).map((e) => (format === 'pax' ? e : { ...e, xattrs: '' }));
      assert.deepEqual(asExpected(whole.entries), want);
      for (const sizes of [[1], [7], [512], [3, 1000, 511, 65536]]) {
        const got = parse(tar, sizes);
        assert.deepEqual(got.entries, whole.entries, `chunks ${sizes.join(',')}`);
      }
      if (format === 'pax') {
        // GNU tar's pax format keeps the sub-second part of mtimes.
        const f = whole.entries.find((e) => e.path === './etc/f1')!;
        assert.deepEqual(f.mtime, { sec: 1_650_000_000, nsec: 250_000_000 });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const version of GNU_SPARSE_VERSIONS) {
  test(`GNU tar --sparse (${version}): each sparse file is one entry whose map and data rebuild it exactly`, { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'shibafu-sparse-'));
    try {
      makeSparseTree(dir);
      const tar = gnuSparseTar(dir, version);
      for (const sizes of [[tar.length], [1], [511, 4096, 513]]) {
        const parsed = parse(tar, sizes);
        assert.deepEqual(parsed.replay, tar, 'raw + data reproduces the archive');
        const files = parsed.entries.filter((e) => e.type === 'file').map((e) => e.path.replace(/^\.\//, ''));
        assert.deepEqual(files.sort(), [...Object.keys(SPARSE_FILES), 'plain'].sort());
        for (const rel of Object.keys(SPARSE_FILES)) {
          const e = parsed.entries.find((x) => x.path.replace(/^\.\//, '') === rel)!;
          const format = version === 'oldgnu' ? 'gnu' : version;
          assert.equal(e.sparse?.format, format, rel);
          assert.equal(e.sparse.realSize, SPARSE_FILES[rel]!.size, rel);
          // Rebuild the file from the map and the data the parser handed out.
          const out = Buffer.alloc(e.sparse.realSize);
          let at = 0;
          e.sparse.offsets.forEach((o, i) => { e.data.copy(out, o, at, at + e.sparse!.sizes[i]!); at += e.sparse!.sizes[i]!; });
          assert.equal(at, e.size);
          assert.ok(out.equals(readFileSync(join(dir, rel))), `${rel} rebuilt from its map`);
        }
        assert.equal(parsed.entries.find((x) => x.path.endsWith('plain'))!.sparse, undefined);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a GNU tar archive cut anywhere in its last member is TAR_TRUNCATED', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-cut-'));
  try {
    writeFileSync(join(dir, 'a'), Buffer.alloc(700, 1));
    const tar = run('tar', ['--format=pax', '-cf', '-', '-C', dir, 'a']);
    // GNU tar pads to 10240 bytes; the end marker starts after the header and 2 data blocks.
    const [entry] = parse(tar, [tar.length]).entries;
    const marker = entry!.headerOffset + 512 + 1024;
    for (let len = 0; len < marker + 1; len++) {
      assert.throws(() => parse(tar.subarray(0, len), [len || 1]), (e) => isShibafuError(e, 'TAR_TRUNCATED'), `cut at ${len}`);
    }
    assert.equal(parse(tar, [tar.length]).entries.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
