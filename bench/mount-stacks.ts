/**
 * Mount: mount + umount of stacks of 1, 10, 50, 128 and 500 layers through the library, in process
 * (the new mount API and legacy mount(2)), and bare mount(8) of 128 lowers for reference. The
 * store holds one chain of 500 tiny layers; a stack of N is the chain's N-th layer, which brings
 * its ancestors. bench/mount-bench.ts (the overlay module without the store) runs after it, so
 * the store's own cost (the mount record, staging) shows as the difference.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openStore, type Store } from '../src/index.js';
import type { BenchContext } from './bench-context.js';
import { tinyLayerTar } from './fixtures.js';
import { median, nowMs } from './measure.js';
import { benchMount } from './mount-bench.js';

const DEPTHS = [1, 10, 50, 128, 500] as const;
const MOUNT_TARGET = { max: 10, text: '< 10 ms' };
const WARMUP = 3;

export async function mountBench(ctx: BenchContext): Promise<void> {
  const root = ctx.lfs.fresh('mount', 'root');
  const store = openStore({ root });
  try {
    ctx.log('mount: creating a chain of 500 tiny layers through the library...');
    const t0 = nowMs();
    await buildChain(store, 500);
    ctx.log(`  created in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
    for (const api of ['new', 'legacy'] as const) {
      for (const depth of DEPTHS) await measureLibrary(ctx, store, api, depth);
    }
    measureMount8(ctx, store, 128);
  } finally {
    store.close();
  }
  // The overlay module alone (no store: no record, no staging), from the other mount benchmark.
  ctx.log('mount: the overlay module alone (bench/mount-bench.ts)...');
  for (const r of await benchMount({ root: ctx.lfs.fresh('mount', 'module'), iterations: ctx.iterations })) {
    ctx.rows.push({
      bench: 'mount', name: `${r.layers} layer${r.layers === 1 ? '' : 's'}, ${r.api === 'new' ? 'new API' : 'legacy mount(2)'}, overlay module only`,
      value: r.totalMs, unit: 'ms', note: `mount ${r.mountMs.toFixed(2)} ms, umount ${r.unmountMs.toFixed(2)} ms; no store`,
    });
  }
}

async function buildChain(store: Store, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    await store.createLayer({ name: `m${i}`, source: Readable.from([tinyLayerTar(i)]), ...(i > 1 ? { parent: `m${i - 1}` } : {}) });
  }
}

async function measureLibrary(ctx: BenchContext, store: Store, api: 'new' | 'legacy', depth: number): Promise<void> {
  const target = ctx.lfs.fresh('mount', 'targets', `${api}-${depth}`);
  const name = `${depth} layer${depth === 1 ? '' : 's'}, ${api === 'new' ? 'new API' : 'legacy mount(2)'}: mount + umount`;
  const mountMs: number[] = [];
  const umountMs: number[] = [];
  try {
    for (let i = 0; i < WARMUP + ctx.iterations; i++) {
      const t0 = nowMs();
      const view = await store.mountLayers({ layers: [`m${depth}`], target, api });
      const t1 = nowMs();
      if (i === 0) checkStack(target, depth, view.layers.length);
      const t1b = i === 0 ? nowMs() : t1;
      store.unmount(target);
      const t2 = nowMs();
      if (i >= WARMUP) { mountMs.push(t1 - t0); umountMs.push(t2 - t1b); }
    }
  } catch (err) {
    const e = err as { code?: string; message?: string };
    ctx.log(`  ${name}: failed: ${e.code ?? ''} ${e.message ?? String(err)}`);
    store.unmount(target);
    ctx.rows.push({ bench: 'mount', name, value: null, unit: 'ms', ...(depth === 500 ? { target: MOUNT_TARGET } : {}), note: `fails: ${e.code ?? 'error'}` });
    return;
  }
  const total = mountMs.map((m, i) => m + (umountMs[i] as number));
  ctx.rows.push({
    bench: 'mount', name, value: median(total), unit: 'ms', samples: total,
    ...(depth === 500 ? { target: MOUNT_TARGET } : {}),
    note: `mount ${median(mountMs).toFixed(2)} ms, umount ${median(umountMs).toFixed(2)} ms; ${ctx.iterations} iterations`,
  });
  ctx.log(`  ${name}: ${median(total).toFixed(2)} ms`);
}

/** The mount shows the top layer's layer.txt and the bottom layer's own file: the whole stack. */
function checkStack(target: string, depth: number, stackLen: number): void {
  const top = fs.readFileSync(join(target, 'layer.txt'), 'utf8');
  if (top !== `layer ${depth}\n` || stackLen !== depth || !fs.existsSync(join(target, 'l1'))) {
    throw new Error(`mount of m${depth} at ${target} does not show the expected stack (layer.txt: ${JSON.stringify(top)}, ${stackLen} layers)`);
  }
}

/**
 * mount(8) of `depth` lowers, read-only, through short symlinks of our own (relative to the cwd, as
 * Docker's overlay2 does), so the options fit in one page. fork/exec of mount and umount included.
 */
function measureMount8(ctx: BenchContext, store: Store, depth: number): void {
  const linkDir = ctx.lfs.fresh('mount', 'links');
  const target = ctx.lfs.fresh('mount', 'targets', `mount8-${depth}`);
  const names: string[] = [];
  for (let i = depth; i >= 1; i--) {
    const link = i.toString(36);
    fs.symlinkSync(store.inspectLayer(`m${i}`).path, join(linkDir, link));
    names.push(link);
  }
  const options = `ro,lowerdir=${names.join(':')}`;
  const total: number[] = [];
  const name = `${depth} layers, mount(8) -t overlay: mount + umount (reference)`;
  for (let i = 0; i < WARMUP + ctx.iterations; i++) {
    const t0 = nowMs();
    const m = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', options, target], { cwd: linkDir, stdio: ['ignore', 'ignore', 'pipe'] });
    if (m.status !== 0) {
      ctx.rows.push({ bench: 'mount', name, value: null, unit: 'ms', note: `mount(8) failed: ${String(m.stderr).trim()}` });
      return;
    }
    const u = spawnSync('umount', [target], { stdio: 'ignore' });
    const t1 = nowMs();
    if (u.status !== 0) throw new Error(`umount ${target} failed`);
    if (i >= WARMUP) total.push(t1 - t0);
  }
  ctx.rows.push({ bench: 'mount', name, value: median(total), unit: 'ms', samples: total, note: `two processes (mount, umount) included; ${ctx.iterations} iterations` });
  ctx.log(`  ${name}: ${median(total).toFixed(2)} ms`);
}
