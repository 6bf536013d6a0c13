import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TarSplitWriter, readTarSplit, type TarSplitRecord } from './tar-split.js';

async function roundTrip(write: (w: TarSplitWriter) => Promise<void>): Promise<TarSplitRecord[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tar-split-test-'));
  try {
    const path = join(dir, 'split.gz');
    const w = new TarSplitWriter(path);
    await write(w);
    await w.close();
    const out: TarSplitRecord[] = [];
    for await (const r of readTarSplit(path)) out.push(r.kind === 'raw' ? { kind: 'raw', bytes: Buffer.from(r.bytes) } : r);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Merges adjacent raw records: only their concatenation is meaningful. */
function normalise(records: TarSplitRecord[]): TarSplitRecord[] {
  const out: TarSplitRecord[] = [];
  for (const r of records) {
    const last = out.at(-1);
    if (r.kind === 'raw' && last?.kind === 'raw') last.bytes = Buffer.concat([last.bytes, r.bytes]);
    else out.push(r.kind === 'raw' ? { kind: 'raw', bytes: Buffer.from(r.bytes) } : r);
  }
  return out;
}

test('TarSplitWriter round-trips raw and file records across many blocks', async () => {
  const expected: TarSplitRecord[] = [];
  const records = await roundTrip(async (w) => {
    const header = Buffer.alloc(512);
    for (let i = 0; i < 5000; i++) {
      header.fill(i % 251);
      w.raw(header); // the same buffer reused, as the parser does
      expected.push({ kind: 'raw', bytes: Buffer.from(header) });
      const path = `dir${i % 17}/file-${i}-é`;
      w.file(path, i * 3);
      expected.push({ kind: 'file', path, size: i * 3 });
      if (i % 100 === 0) await w.ready();
    }
    const big = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    w.raw(big);
    expected.push({ kind: 'raw', bytes: big });
    const longPath = 'x'.repeat(1024 * 1024 + 10);
    w.file(longPath, 1);
    expected.push({ kind: 'file', path: longPath, size: 1 });
  });
  for (const r of records) if (r.kind === 'raw') assert.ok(r.bytes.length <= 256 * 1024, 'raw records stay under 256 KiB');
  assert.deepEqual(normalise(records), normalise(expected));
});

test('a sparse file\'s content is one segment record per non-empty segment of its map, in order', async () => {
  const records = await roundTrip(async (w) => {
    w.raw(Buffer.from('header'));
    w.content({ op: 'sparse', parts: ['var', 'img'], attrs: { mode: 0o644, uid: 0, gid: 0, mtime: { sec: 0, nsec: 0 }, xattrs: [] },
      map: { format: 'gnu', realSize: 2 ** 40, offsets: [0, 2 ** 33, 2 ** 40], sizes: [512, 4096, 0] } });
    w.content({ op: 'file', parts: ['f'], attrs: { mode: 0o644, uid: 0, gid: 0, mtime: { sec: 0, nsec: 0 }, xattrs: [] }, size: 3 });
    w.content({ op: 'whiteout', parts: ['gone'] });
    w.content({ op: 'sparse', parts: ['holes'], attrs: { mode: 0o644, uid: 0, gid: 0, mtime: { sec: 0, nsec: 0 }, xattrs: [] },
      map: { format: 'pax-0.1', realSize: 100, offsets: [0, 100], sizes: [0, 0] } });
  });
  assert.deepEqual(records, [
    { kind: 'raw', bytes: Buffer.from('header') },
    { kind: 'segment', path: 'var/img', offset: 0, size: 512, fileSize: 2 ** 40 },
    { kind: 'segment', path: 'var/img', offset: 2 ** 33, size: 4096, fileSize: 2 ** 40 },
    { kind: 'file', path: 'f', size: 3 },
    { kind: 'segment', path: 'holes', offset: 100, size: 0, fileSize: 100 },
  ]);
});

test('TarSplitWriter writes an empty record for an empty archive', async () => {
  assert.deepEqual(await roundTrip(async () => {}), []);
});
