/**
 * The seed's Step 4 experiment (issue 3): ten containers on a ~200 MB image, with layers against
 * without. With layers, each container is `shibafu container create` on the image: one overlay
 * mount over the shared layer and an empty upper. Without, each gets a full copy of the image's
 * rootfs (`cp -a`, then `sync -f` once, as shibafu's creates are durable when they return). podman
 * creates the same ten from the same tar beside them. Reported: the time for the ten, as whole
 * commands, and the disk they use (the loop fs's used bytes after a sync, before and after).
 *
 * Run alone: `npm run bench -- containers`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './bench-context.js';
import { ensureFixture } from './fixtures.js';
import { benchEnv, have, nowMs, run, podmanStore, syncAll, timeCommand } from './measure.js';
import type { Row } from './report.js';

const COUNT = 10;

interface Side {
  readonly ms: number;
  readonly bytes: number;
}

/**
 * Adds the rows: time and disk of ten containers for shibafu, full copies and podman.
 *
 * @example
 * await containersBench(ctx);
 */
export async function containersBench(ctx: BenchContext): Promise<void> {
  const f = ensureFixture('mixed', ctx.cacheDir, ctx.lfs.fresh('containers', 'gen'), ctx.log);
  const image = `${(f.tarBytes / 2 ** 20).toFixed(0)} MiB image, ${f.entries} entries`;
  const rows: Row[] = [];
  const root = ctx.lfs.fresh('containers', 'store');
  const cli = (...args: string[]): string => run(ctx.shibafuBin, ['--root', root, ...args], { env: benchEnv() });
  ctx.log(`containers: importing the ${image} into shibafu...`);
  cli('layer', 'create', 'image', f.tar);
  const rootfs = (JSON.parse(cli('layer', 'inspect', 'image', '--json')) as { path: string }).path;
  try {
    ctx.log(`containers: ${COUNT} x shibafu container create, then ${COUNT} full copies of the rootfs...`);
    const layered = measure(ctx, () => {
      for (let i = 0; i < COUNT; i++) timeCommand([ctx.shibafuBin, '--root', root, 'container', 'create', '--name', `c${i}`, 'image', '/bin/true'], { scratch: ctx.scratch });
    });
    cli('service', 'start');
    let served: Side;
    try {
      served = measure(ctx, () => {
        for (let i = 0; i < COUNT; i++) timeCommand([ctx.shibafuBin, '--root', root, 'container', 'create', '--name', `s${i}`, 'image', '/bin/true'], { scratch: ctx.scratch });
      });
    } finally {
      cli('service', 'stop');
    }
    const copiesDir = ctx.lfs.fresh('containers', 'copies');
    const copied = measure(ctx, () => {
      for (let i = 0; i < COUNT; i++) run('cp', ['-a', '--reflink=never', rootfs, join(copiesDir, `c${i}`)]);
      run('sync', ['-f', copiesDir]);
    });
    fs.rmSync(copiesDir, { recursive: true, force: true });
    rows.push(
      { bench: 'containers', name: `${COUNT} containers with layers (shibafu container create), ${image}`, value: layered.ms, unit: 'ms', note: `disk ${mib(layered.bytes)}` },
      { bench: 'containers', name: `${COUNT} containers with layers, through the service`, value: served.ms, unit: 'ms', note: `disk ${mib(served.bytes)}` },
      { bench: 'containers', name: `${COUNT} full copies of the rootfs (cp -a, sync -f)`, value: copied.ms, unit: 'ms', note: `disk ${mib(copied.bytes)}` },
      { bench: 'containers', name: 'full copies / layers: time', value: copied.ms / layered.ms, unit: 'x' },
      { bench: 'containers', name: 'full copies / layers: disk', value: copied.bytes / Math.max(layered.bytes, 4096), unit: 'x', note: `${mib(copied.bytes)} against ${mib(layered.bytes)}` },
    );
  } finally {
    for (const prefix of ['c', 's']) {
      for (let i = 0; i < COUNT; i++) spawnSync(ctx.shibafuBin, ['--root', root, 'container', 'rm', '--force', `${prefix}${i}`], { stdio: 'ignore', env: benchEnv() });
    }
  }
  const podman = measurePodman(ctx, f.tar);
  if ('skipped' in podman) {
    rows.push({ bench: 'containers', name: `${COUNT} x podman create`, value: null, unit: 'ms', note: `skipped: ${podman.skipped}` });
  } else {
    rows.push({ bench: 'containers', name: `${COUNT} x podman create (the same tar, podman import)`, value: podman.ms, unit: 'ms', note: `disk ${mib(podman.bytes)}` });
  }
  ctx.rows.push(...rows);
  for (const r of rows) ctx.log(`  ${r.name}: ${r.value === null ? 'n/a' : r.value.toFixed(r.unit === 'x' ? 2 : 0)} ${r.unit} ${r.note ?? ''}`);
}

/** Times `fn` and the bytes the loop fs gained meanwhile (both measured after a sync). */
function measure(ctx: BenchContext, fn: () => void): Side {
  syncAll();
  const before = ctx.lfs.usage().usedBytes;
  const t0 = nowMs();
  fn();
  const ms = nowMs() - t0;
  syncAll();
  return { ms, bytes: ctx.lfs.usage().usedBytes - before };
}

function measurePodman(ctx: BenchContext, tar: string): Side | { skipped: string } {
  if (!have('podman')) return { skipped: 'podman not installed' };
  const dir = ctx.lfs.fresh('containers', 'podman');
  const pm = podmanStore(dir);
  const { args } = pm;
  try {
    ctx.log(`containers: podman import, then ${COUNT} x podman create...`);
    run('podman', [...args, 'import', '--quiet', tar, 'bench-image']);
    return measure(ctx, () => {
      for (let i = 0; i < COUNT; i++) timeCommand(['podman', ...args, 'create', '--name', `c${i}`, 'bench-image', '/bin/true'], { scratch: ctx.scratch });
    });
  } catch (err) {
    const reason = (err as Error).message.split('\n').slice(0, 2).join(' / ').slice(0, 200);
    ctx.log(`  podman skipped: ${reason}`);
    return { skipped: reason };
  } finally {
    spawnSync('podman', [...args, 'rm', '--all', '--force'], { stdio: 'ignore' });
    pm.dispose();
  }
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
