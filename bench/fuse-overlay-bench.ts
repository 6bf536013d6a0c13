/**
 * The read and walk penalty of fuse-overlayfs against a kernel overlay of the same two lowers
 * (about 3,000 files, about 200 MB): time to lstat every node, and to read every byte, through
 * each mount, cold (both mounts made afresh after `echo 3 > /proc/sys/vm/drop_caches`) and warm
 * (again at once). Needs root, /dev/fuse and the fuse-overlayfs program. Dropping caches slows
 * everything else on the machine for a moment. Part of `npm run bench -- drivers`
 * (bench/drivers-bench.ts); alone as below.
 *
 * Measured here (fuse-overlayfs 1.10, kernel 6.18, 2 shared cores, 224 MB in 3,521 nodes, medians
 * of 3): kernel overlay walk 148 ms cold / 27 ms warm, read 654 / 114 ms; fuse-overlayfs walk
 * 231 / 88 ms, read 1012 / 191 ms: 1.6x cold for both, 3.3x (walk) and 1.7x (read) warm.
 *
 *   node dist/bench/fuse-overlay-bench.js [rounds]
 */
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { systemMounter } from '../src/overlay/system-mounter.js';
import type { Mount } from '../src/snapshots/mount.js';
import { probeFuseOverlay } from '../src/sys/fuse-overlayfs.js';
import { median, nowMs, syncAll } from './measure.js';
import { Prng } from './prng.js';

export interface FuseBenchRow {
  mount: 'overlay' | 'fuse-overlayfs';
  cache: 'cold' | 'warm';
  walkMs: number;
  readMs: number;
  files: number;
  bytes: number;
}

/** Two lowers: 3,000 files of 4-32 KiB in 60 dirs, plus 100 files of 0.5-2.5 MiB; the top one replaces a tenth. */
function makeTree(root: string): string[] {
  const rng = new Prng('fuse-overlay-bench');
  const l1 = join(root, 'l1');
  const l2 = join(root, 'l2');
  for (let d = 0; d < 60; d++) {
    mkdirSync(join(l1, `d${d}`, 'sub'), { recursive: true });
    mkdirSync(join(l2, `d${d}`), { recursive: true });
    for (let f = 0; f < 50; f++) {
      const size = rng.int(4096, 32 * 1024);
      writeFileSync(join(l1, `d${d}`, f % 2 === 0 ? 'sub' : '', `f${f}`), Buffer.alloc(size, f));
      if (f % 10 === 0) writeFileSync(join(l2, `d${d}`, `f${f}`), Buffer.alloc(size, f + 1));
    }
  }
  mkdirSync(join(l1, 'big'));
  for (let i = 0; i < 100; i++) writeFileSync(join(l1, 'big', `b${i}`), Buffer.alloc(rng.int(512 * 1024, 2560 * 1024), i));
  return [l1, l2];
}

function walk(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    n++;
    if (lstatSync(p).isDirectory()) n += walk(p);
  }
  return n;
}

function readAll(dir: string, buf: Buffer): number {
  let bytes = 0;
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) { bytes += readAll(p, buf); continue; }
    const fd = openSync(p, 'r');
    try {
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) bytes += n;
    } finally {
      closeSync(fd);
    }
  }
  return bytes;
}

function dropCaches(): void {
  syncAll();
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

/**
 * Walk and read medians of `rounds`, per mount and cache state; the tree is made under `parent`
 * (the OS temp dir by default; the runner's loop fs under `npm run bench`).
 *
 * @example
 * benchFuseOverlay(3, lfs.fresh('fuse'))
 */
export function benchFuseOverlay(rounds = 3, parent = tmpdir()): FuseBenchRow[] {
  const probe = probeFuseOverlay({ version: false });
  if (probe.program === null || probe.reason !== null) throw new Error(`fuse-overlayfs cannot run here: ${probe.reason}`);
  const root = mkdtempSync(join(parent, 'shibafu-fuse-bench-'));
  mkdirSync(join(root, 'empty'));
  const mounter = systemMounter({ emptyDir: join(root, 'empty') });
  const targets = { overlay: join(root, 'k'), 'fuse-overlayfs': join(root, 'f') } as const;
  const buf = Buffer.alloc(1 << 20);
  const samples = new Map<string, { walk: number[]; read: number[]; files: number; bytes: number }>();
  try {
    const lowers = makeTree(root);
    const mounts: Record<keyof typeof targets, Mount[]> = {
      overlay: [{ type: 'overlay', lowers }],
      'fuse-overlayfs': [{ type: 'fuse-overlayfs', program: probe.program, lowers }],
    };
    for (const t of Object.values(targets)) mkdirSync(t);
    for (let r = 0; r < rounds; r++) {
      for (const kind of ['overlay', 'fuse-overlayfs'] as const) {
        mounter.mount(mounts[kind], targets[kind]);
        try {
          dropCaches();
          for (const cache of ['cold', 'warm'] as const) {
            const t0 = nowMs();
            const files = walk(targets[kind]);
            const t1 = nowMs();
            // The read's cold run follows a cold walk: metadata is cached, data is not.
            const bytes = readAll(targets[kind], buf);
            const t2 = nowMs();
            const key = `${kind} ${cache}`;
            const s = samples.get(key) ?? { walk: [], read: [], files, bytes };
            s.walk.push(t1 - t0);
            s.read.push(t2 - t1);
            samples.set(key, s);
          }
        } finally {
          mounter.unmount(targets[kind]);
        }
      }
    }
  } finally {
    for (const t of Object.values(targets)) mounter.unmount(t, { lazy: true });
    rmSync(root, { recursive: true, force: true });
  }
  return [...samples].map(([key, s]) => {
    const [mount, cache] = key.split(' ') as [FuseBenchRow['mount'], FuseBenchRow['cache']];
    return { mount, cache, walkMs: median(s.walk), readMs: median(s.read), files: s.files, bytes: s.bytes };
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = benchFuseOverlay(Number(process.argv[2] ?? 3));
  console.table(rows.map((r) => ({ ...r, walkMs: r.walkMs.toFixed(1), readMs: r.readMs.toFixed(1), MBps: (r.bytes / 1e6 / (r.readMs / 1000)).toFixed(0) })));
  for (const cache of ['cold', 'warm'] as const) {
    const k = rows.find((r) => r.mount === 'overlay' && r.cache === cache);
    const f = rows.find((r) => r.mount === 'fuse-overlayfs' && r.cache === cache);
    if (k !== undefined && f !== undefined) console.log(`${cache}: walk ${(f.walkMs / k.walkMs).toFixed(2)}x, read ${(f.readMs / k.readMs).toFixed(2)}x of kernel overlay`);
  }
}
