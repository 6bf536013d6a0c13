/**
 * Mount + unmount time of read-only overlay stacks, new mount API (one fsconfig("lowerdir+") per
 * layer) against legacy mount(2) with short links (cwd = the links dir, as Docker's overlay2 does).
 * Needs root. Run alone: `node dist/bench/mount-bench.js [iterations]`.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mountOverlay, unmountOverlay } from '../src/overlay/mount-overlay.js';
import { planOverlayMount } from '../src/overlay/plan-overlay-mount.js';
import { probeOverlay } from '../src/overlay/probe-overlay.js';

export interface MountBenchOptions {
  /** Where to build the layers (default: a fresh dir in the OS temp dir, removed afterwards). */
  root?: string;
  sizes?: readonly number[];
  apis?: ReadonlyArray<'new' | 'legacy'>;
  /** Timed rounds per (size, api), after 3 untimed ones. */
  iterations?: number;
}

export interface MountBenchResult {
  layers: number;
  api: 'new' | 'legacy';
  iterations: number;
  /** Medians in milliseconds. */
  mountMs: number;
  unmountMs: number;
  totalMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function buildLayers(root: string, count: number): { lowers: string[]; linkDir: string; links: Map<string, string> } {
  const linkDir = join(root, 'l');
  mkdirSync(linkDir, { recursive: true });
  const links = new Map<string, string>();
  const lowers = Array.from({ length: count }, (_, i) => {
    const dir = join(root, 'layers', String(i));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `file${i}`), String(i));
    const name = i.toString(36);
    symlinkSync(join('..', 'layers', String(i)), join(linkDir, name));
    links.set(dir, name);
    return dir;
  });
  return { lowers, linkDir, links };
}

/**
 * Measures mount + unmount medians per stack size and API.
 *
 * @example
 * const rows = await benchMount({ sizes: [1, 500], iterations: 20 });
 * console.table(rows);
 */
export async function benchMount(options: MountBenchOptions = {}): Promise<MountBenchResult[]> {
  const sizes = options.sizes ?? [1, 10, 50, 128, 500];
  const apis = options.apis ?? (probeOverlay().lowerdirPlus ? ['new', 'legacy'] : ['legacy']);
  const iterations = options.iterations ?? 30;
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'shibafu-mount-bench-'));
  const target = join(root, 'merged');
  const emptyDir = join(root, 'empty');
  mkdirSync(target, { recursive: true });
  mkdirSync(emptyDir, { recursive: true });
  const results: MountBenchResult[] = [];
  try {
    const { lowers, linkDir, links } = buildLayers(root, Math.max(...sizes));
    for (const layers of sizes) {
      const plan = planOverlayMount({ lowers: lowers.slice(0, layers), target, emptyDir });
      for (const api of apis) {
        const mounts: number[] = [];
        const unmounts: number[] = [];
        for (let i = 0; i < iterations + 3; i++) {
          const t0 = process.hrtime.bigint();
          mountOverlay(plan, { api, shortLinks: { cwd: linkDir, links } });
          const t1 = process.hrtime.bigint();
          unmountOverlay(target);
          const t2 = process.hrtime.bigint();
          if (i >= 3) {
            mounts.push(Number(t1 - t0) / 1e6);
            unmounts.push(Number(t2 - t1) / 1e6);
          }
        }
        const totals = mounts.map((m, i) => m + (unmounts[i] as number));
        results.push({ layers, api, iterations, mountMs: median(mounts), unmountMs: median(unmounts), totalMs: median(totals) });
        await new Promise((resolve) => setImmediate(resolve)); // let the event loop breathe between series
      }
    }
  } finally {
    while (unmountOverlay(target, { detach: true }));
    if (options.root === undefined) rmSync(root, { recursive: true, force: true });
  }
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const iterations = Number(process.argv[2] ?? 30);
  const rows = await benchMount({ iterations });
  console.table(rows.map((r) => ({ ...r, mountMs: r.mountMs.toFixed(3), unmountMs: r.unmountMs.toFixed(3), totalMs: r.totalMs.toFixed(3) })));
}
