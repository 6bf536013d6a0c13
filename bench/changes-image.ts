/**
 * The image and the container edits of the change-tracking benchmarks (bench/changes-bench.ts,
 * bench/drivers-bench.ts): a ~200 MB image shaped like the "mixed" fixture (4 large files, 150
 * libraries, 12,000 small files; `scale` copies of it), written as a tar and cached, and the
 * 1,000 edits a container makes on it (400 files modified, 300 deleted, 300 added).
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import type { BenchContext } from './bench-context.js';
import { ByteSource } from './prng.js';
import { encodeHeader, paddingFor } from '../src/tar/tar-header.js';

const MTIME = 1_700_000_000;

interface Member { readonly path: string; readonly size: number; readonly big: boolean }

/** The mixed image's shape (REFERENCE.md): 4 large files, 150 libraries, 12,000 small files; `scale` copies. */
function members(scale: number): Member[] {
  const out: Member[] = [];
  for (let c = 0; c < scale; c++) {
    const p = scale === 1 ? '' : `c${c}/`;
    for (let i = 0; i < 4; i++) out.push({ path: `${p}opt/big/blob${i}.bin`, size: 35 << 20, big: true });
    for (let i = 0; i < 150; i++) out.push({ path: `${p}usr/lib/lib${i}.so.1`, size: (200 << 10) + i * 997, big: false });
    for (let i = 0; i < 12_000; i++) out.push({ path: `${p}usr/share/doc/pkg${i % 300}/file${i}.txt`, size: (i * 7919) % 6000, big: false });
  }
  return out;
}

/** Writes the image tar (cached across runs): dirs first, then files; streamed, bounded memory. */
export function changesImageTar(ctx: BenchContext, scale: number): { tar: string; files: number; bytes: number } {
  const tar = join(ctx.cacheDir, `changes-image-x${scale}-v1.tar`);
  const list = members(scale);
  if (!fs.existsSync(tar)) {
    ctx.log(`changes: generating the x${scale} image tar (cached in ${ctx.cacheDir})...`);
    fs.mkdirSync(ctx.cacheDir, { recursive: true });
    const fd = fs.openSync(`${tar}.tmp`, 'w');
    const bytes = new ByteSource(`changes-x${scale}`);
    const dirs = new Set<string>();
    for (const m of list) for (let d = dirname(m.path); d !== '.'; d = dirname(d)) dirs.add(d);
    for (const d of [...dirs].sort()) fs.writeSync(fd, encodeHeader({ name: `${d}/`, typeflag: '5', mode: 0o755, mtime: MTIME }));
    for (const m of list) {
      fs.writeSync(fd, encodeHeader({ name: m.path, typeflag: '0', mode: 0o644, size: m.size, mtime: MTIME }));
      for (let left = m.size; left > 0; left -= 1 << 20) {
        const n = Math.min(left, 1 << 20);
        fs.writeSync(fd, m.big ? bytes.take(n) : Buffer.alloc(n, m.size % 251));
      }
      fs.writeSync(fd, Buffer.alloc(paddingFor(m.size)));
    }
    fs.writeSync(fd, Buffer.alloc(1024));
    fs.closeSync(fd);
    fs.renameSync(`${tar}.tmp`, tar);
  }
  return { tar, files: list.length, bytes: fs.statSync(tar).size };
}

/** The container's 1,000 edits: 400 files modified, 300 deleted, 300 added (in 10 new dirs and existing ones). */
export function makeEdits(merged: string, scale: number): void {
  const p = scale === 1 ? '' : 'c0/';
  const doc = (i: number): string => join(merged, `${p}usr/share/doc/pkg${i % 300}/file${i}.txt`);
  for (let i = 0; i < 400; i++) fs.appendFileSync(doc(i), Buffer.alloc(100, 'm'));
  for (let i = 400; i < 700; i++) fs.unlinkSync(doc(i));
  for (let d = 0; d < 10; d++) {
    fs.mkdirSync(join(merged, `${p}app/d${d}`), { recursive: true });
    for (let i = 0; i < 25; i++) fs.writeFileSync(join(merged, `${p}app/d${d}/f${i}`), Buffer.alloc(1000 + i, 'a'));
  }
  for (let i = 0; i < 50; i++) fs.writeFileSync(join(merged, `${p}usr/share/doc/pkg${i}/new${i}`), 'added\n');
}
