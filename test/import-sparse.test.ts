/**
 * GNU sparse files through the store (real kernel, as root): GNU tar's archives in each of its
 * layouts import with their holes (the files read back as the originals, take the blocks of their
 * data only), export byte for byte as the archive (tar-split segment records) with the diffId as
 * digest, compressed or not, on a parent or not, through an overlay mount too; a layer packed from
 * a tree with a sparse file exports it as a plain file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../src/store/store.js';
import { TarParser } from '../src/tar/tar-parser.js';
import type { TarEntry } from '../src/tar/tar-entry.js';
import { gzip, zstd } from './fixtures/compress.js';
import { GNU_SPARSE_VERSIONS, SPARSE_FILES, gnuSparseTar, makeSparseTree } from './fixtures/sparse-archive.js';
import { runCli } from './helpers/cli.js';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function exportBytes(store: Store, ref: string): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  await store.exportLayer(ref, { stream: out }, { compression: 'none' });
  return Buffer.concat(parts);
}

function entriesOf(tar: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  const p = new TarParser({ onEntry: (e) => out.push(e), onData: () => {}, onEntryEnd: () => {} });
  p.write(tar);
  p.end();
  return out;
}

/** Bytes allocated to the file (st_blocks): a sparse file keeps only its data's blocks. */
const allocated = (path: string): number => statSync(path).blocks * 512;

describe('GNU sparse archives through the store', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  const src = mkdtempSync(join(tmpdir(), 'shibafu-sparse-src-'));
  after(() => rmSync(src, { recursive: true, force: true }));
  before(() => makeSparseTree(src));

  /** Every sparse file of the layer reads as the source, at its size, with no more blocks than it. */
  function assertSparseFiles(dir: string, what: string): void {
    for (const rel of Object.keys(SPARSE_FILES)) {
      const path = join(dir, rel);
      assert.equal(statSync(path).size, SPARSE_FILES[rel]!.size, `${what}: ${rel} size`);
      assert.ok(readFileSync(path).equals(readFileSync(join(src, rel))), `${what}: ${rel} content`);
      // GNU tar stores whole 4 KiB blocks of data; the layer's file takes those, never its holes.
      assert.ok(allocated(path) <= allocated(join(src, rel)) + 64 * 1024, `${what}: ${rel} takes ${allocated(path)} bytes on disk, its source ${allocated(join(src, rel))}`);
    }
    assert.equal(readFileSync(join(dir, 'plain'), 'utf8'), 'not sparse\n');
  }

  for (const version of GNU_SPARSE_VERSIONS) {
    test(`${version}: imported with holes, exported byte for byte, digest = diffId`, async () => {
      const tar = gnuSparseTar(src, version);
      await ts.store.createLayer({ name: version, source: ts.input(`${version}.tar`, tar) });
      const layer = ts.store.inspectLayer(version);
      assert.equal(layer.diffId, sha256(tar));
      assertSparseFiles(layer.path, version);
      const exported = await exportBytes(ts.store, version);
      assert.ok(exported.equals(tar), 'the export is the archive');
      assert.equal(sha256(exported), layer.diffId);
    });
  }

  test('zstd and gzip archives, and a sparse layer on a parent, seen through an overlay mount', async () => {
    const tar = gnuSparseTar(src, 'pax-1.0');
    await ts.store.createLayer({ name: 'plain-parent', source: ts.input('parent.tar', gnuSparseTar(src, 'gnu')) });
    await ts.store.createLayer({ name: 'zst', source: ts.input('s.tar.zst', zstd(tar)), parent: 'plain-parent' });
    await ts.store.createLayer({ name: 'gz', source: ts.input('s.tar.gz', gzip(tar)) });
    for (const ref of ['zst', 'gz']) {
      const layer = ts.store.inspectLayer(ref);
      assert.equal(layer.diffId, sha256(tar));
      assertSparseFiles(layer.path, ref);
      assert.ok((await exportBytes(ts.store, ref)).equals(tar), `${ref}: export`);
    }
    const target = join(ts.base, 'mnt');
    mkdirSync(target);
    const r = await runCli(['--root', ts.root, 'layer', 'mount', 'zst', target]);
    assert.equal(r.status, 0, r.stderr);
    try {
      assertSparseFiles(target, 'mounted');
    } finally {
      assert.equal((await runCli(['--root', ts.root, 'layer', 'umount', target])).status, 0);
    }
  });

  test('a layer packed from a tree (no tar-split) writes a sparse file as a plain file', async () => {
    await ts.store.createLayer({ name: 'from-dir', fromDir: src });
    const exported = await exportBytes(ts.store, 'from-dir');
    assert.equal(sha256(exported), ts.store.inspectLayer('from-dir').diffId);
    const disk = entriesOf(exported).find((e) => e.path === 'var/lib/disk.img')!;
    assert.deepEqual([disk.type, disk.size, disk.sparse], ['file', SPARSE_FILES['var/lib/disk.img']!.size, undefined]);
  });

  test('the CLI imports a sparse archive and exports it again (exit 0)', async () => {
    const tar = gnuSparseTar(src, 'pax-0.1');
    const path = ts.input('cli.tar', tar);
    const created = await runCli(['--root', ts.root, 'layer', 'create', 'cli', path]);
    assert.equal(created.status, 0, created.stderr);
    const out = join(ts.inputs, 'cli-export.tar');
    const exported = await runCli(['--root', ts.root, 'layer', 'export', 'cli', '-o', out]);
    assert.equal(exported.status, 0, exported.stderr);
    assert.ok(readFileSync(out).equals(tar));
  });
});
