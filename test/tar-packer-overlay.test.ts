/**
 * The packer on real overlay-format trees (needs root: 0/0 character devices, trusted.* xattrs,
 * big uids), read back by our parser and by GNU tar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packLayerSync } from '../src/tar/tar-packer.js';
import { TarParser } from '../src/tar/tar-parser.js';
import type { TarEntry } from '../src/tar/tar-entry.js';
import { getfattrReader } from './fixtures/tar-xattr-reader.js';
import { addOverlayNodes, expectedEntries, isRoot, makeSourceTree, run, sha } from './fixtures/tar-trees.js';
import type { Expected } from './fixtures/tar-trees.js';

const skip = isRoot ? false : 'needs root for mknod, chown and trusted.overlay.* xattrs';

function pack(dir: string): Buffer {
  return Buffer.concat([...packLayerSync(dir, { xattrs: getfattrReader() })]);
}

function parseToExpected(tar: Buffer): Expected[] {
  const out: Expected[] = [];
  let data: Buffer[] = [];
  let current: TarEntry | null = null;
  const p = new TarParser({
    onEntry: (e) => {
      current = e;
    },
    onData: (c) => data.push(Buffer.from(c)),
    onEntryEnd: () => {
      const e = current!;
      out.push({
        path: e.path,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: e.mtime.sec,
        size: e.size,
        linkpath: e.linkpath,
        dev: e.type === 'char' || e.type === 'block' ? `${e.devmajor},${e.devminor}` : '',
        xattrs: [...e.xattrs].map(([k, v]) => `${k}=${v.toString('hex')}`).join(','),
        sha256: e.type === 'file' && e.size > 0 ? sha(Buffer.concat(data)) : e.type === 'file' ? sha(Buffer.alloc(0)) : '',
      });
      data = [];
    },
  });
  p.write(tar);
  p.end();
  return out;
}

function withTree(fn: (dir: string, scratch: string) => void): void {
  const scratch = mkdtempSync(join(tmpdir(), 'shibafu-ovl-'));
  const dir = join(scratch, 'diff');
  try {
    mkdirSync(dir);
    makeSourceTree(dir);
    addOverlayNodes(dir);
    fn(dir, scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

test('pack → parse gives exactly the entries of the tree, overlay nodes converted', { skip }, () => {
  withTree((dir) => {
    const want = expectedEntries(dir).map((e) => (e.type === 'file' && e.sha256 === '' ? { ...e, sha256: sha(Buffer.alloc(0)) } : e));
    const got = parseToExpected(pack(dir));
    assert.deepEqual(got, want);
    // The conversions, spelled out.
    const byPath = new Map(got.map((e) => [e.path, e]));
    const wh = byPath.get('etc/.wh.deleted');
    assert.deepEqual([wh?.type, wh?.mode, wh?.size, wh?.mtime, wh?.xattrs], ['file', 0, 0, 1_650_000_000, '']);
    assert.equal(byPath.get('etc/deleted'), undefined);
    assert.equal(byPath.get('usr/.wh.also-deleted')?.type, 'file', 'a whiteout sharing an inode is not a hard link');
    const paths = got.map((e) => e.path);
    assert.equal(paths[paths.indexOf('var/cache/') + 1], 'var/cache/.wh..wh..opq');
    assert.equal(byPath.get('var/')?.xattrs, '', 'trusted.overlay.origin is not exported');
    assert.equal(byPath.get('usr/hard1')?.type, 'link');
    assert.equal(byPath.get('usr/hard1')?.linkpath, 'etc/f513');
    assert.equal(byPath.get('etc/f512')?.uid, 3_000_000);
    assert.equal(byPath.get('etc/f0')?.mtime, -315_619_200);
  });
});

test('the same tree gives the same bytes, wherever it is and whatever its inode numbers', { skip }, () => {
  withTree((dir, scratch) => {
    const a = sha(pack(dir));
    assert.equal(sha(pack(dir)), a);
    const copy = join(scratch, 'copy');
    run('cp', ['-a', dir, copy]);
    assert.equal(sha(pack(copy)), a);
  });
});

test('values beyond ustar go to PAX records; short ones do not', { skip }, () => {
  withTree((dir) => {
    const tar = pack(dir).toString('latin1');
    assert.match(tar, /\d+ uid=3000000\n/);
    assert.match(tar, /\d+ gid=4000000\n/);
    assert.match(tar, /\d+ mtime=-315619200\n/);
    assert.match(tar, /\d+ SCHILY\.xattr\.user\.mime=text\/plain\n/);
    assert.doesNotMatch(tar, /path=etc\/f1\n/);
    assert.doesNotMatch(tar, /overlay/);
    assert.doesNotMatch(tar, /\d+ size=/);
  });
});

test('GNU tar reads the packed layer back to the same tree', { skip }, () => {
  withTree((dir, scratch) => {
    const tarPath = join(scratch, 'layer.tar');
    const out = join(scratch, 'out');
    mkdirSync(out);
    writeFileSync(tarPath, pack(dir));
    run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tarPath, '-C', out]);
    const byPath = (xs: Expected[]): Expected[] => [...xs].sort((x, y) => Buffer.compare(Buffer.from(x.path), Buffer.from(y.path)));
    const want = byPath(expectedEntries(dir)).map((e) => (e.type === 'file' && e.sha256 === '' ? { ...e, sha256: sha(Buffer.alloc(0)) } : e));
    assert.deepEqual(byPath(expectedEntries(out)), want);
  });
});
