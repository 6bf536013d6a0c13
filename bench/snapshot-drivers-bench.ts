/**
 * A container's snapshot life on each driver: prepare + mount + umount + remove on a committed
 * layer of 3,000 files, overlay against zfs (zfs-fuse, a pool in a file). Run as root:
 *   node dist/bench/snapshot-drivers-bench.js
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemMounter } from '../src/overlay/system-mounter.js';
import { openSnapshotter } from '../src/snapshots/meta-snapshotter.js';
import type { SnapshotStorage } from '../src/snapshots/snapshot-storage.js';
import { overlayStorage } from '../src/snapshots/overlay/overlay-storage.js';
import { zfsStorage } from '../src/snapshots/zfs/zfs-storage.js';
import { contextFor } from '../test/snapshots/driver-fixture.js';
import { createZfsTestPool } from '../test/helpers/zfs-pool.js';

const FILES = 3000;
const RUNS = 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function measure(label: string, makeStorage: () => SnapshotStorage, root: string): void {
  const empty = join(root, 'empty');
  fs.mkdirSync(empty, { recursive: true });
  const mounter = systemMounter({ emptyDir: empty });
  const ctx = contextFor(root, mounter);
  const sn = openSnapshotter(ctx, makeStorage());
  const target = join(root, 'rootfs');
  fs.mkdirSync(target);
  mounter.mount(sn.prepare('base'), target);
  for (let d = 0; d < FILES / 100; d++) {
    fs.mkdirSync(join(target, `d${d}`));
    for (let f = 0; f < 100; f++) fs.writeFileSync(join(target, `d${d}`, `f${f}`), Buffer.alloc(1024, f));
  }
  mounter.unmount(target);
  sn.commit('base-layer', 'base');
  const steps: Record<string, number[]> = { prepare: [], mount: [], umount: [], remove: [], total: [] };
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const mounts = sn.prepare(`c${i}`, 'base-layer');
    const t1 = performance.now();
    mounter.mount(mounts, target);
    const t2 = performance.now();
    fs.readdirSync(join(target, 'd0'));
    const t3 = performance.now();
    mounter.unmount(target);
    const t4 = performance.now();
    sn.remove(`c${i}`);
    const t5 = performance.now();
    steps.prepare?.push(t1 - t0); steps.mount?.push(t2 - t1); steps.umount?.push(t4 - t3); steps.remove?.push(t5 - t4); steps.total?.push(t5 - t0 - (t3 - t2));
  }
  sn.remove('base-layer');
  sn.close(); ctx.db.close();
  console.log(`${label}: ${Object.entries(steps).map(([k, v]) => `${k} ${median(v).toFixed(1)} ms`).join(', ')} (median of ${RUNS})`);
}

const base = fs.mkdtempSync(join(tmpdir(), 'shibafu-bench-drivers-'));
try {
  measure('overlay', () => overlayStorage({ root: join(base, 'ov', 'snapshots') }), join(base, 'ov'));
  const zp = createZfsTestPool();
  try {
    const r = join(base, 'zfs');
    fs.mkdirSync(r);
    const dataset = `${zp.pool}/bench`;
    (await import('node:child_process')).spawnSync('zfs', ['create', dataset]);
    measure('zfs (zfs-fuse)', () => zfsStorage({ dataset }), r);
  } finally {
    zp.destroy();
  }
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
