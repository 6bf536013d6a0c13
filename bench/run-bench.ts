/**
 * Run: the start of a container, whole commands timed from outside as a user runs them.
 *
 *   shibafu run --rm --layers base true        through the store's service (`service start`): the
 *                                              native front end, the store, mount, runc, umount, rm
 *   the same with SHIBAFU_SERVICE=off          the Node CLI in its own process (Node's start included)
 *   runc run of a prepared busybox bundle      (the floor: the runtime alone, same config.json)
 *   podman run --rm --network none IMAGE true  (the peer, on the same busybox tar, its own store)
 *   shibafu run --rm on a 50-layer and a 500-layer chain (the seed's Step 6 experiment)
 *
 * Runs are interleaved (one of each per round) so machine drift hits every command alike; figures
 * are medians. Target (issue 3): shibafu's overhead over bare runc < 60 ms, Node's start included
 * (for the service: the service's own start is once per store, not per command).
 * Everything lives on the benchmark's loop fs; podman's mounts are cleaned before it goes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openStore } from '../src/index.js';
import { buildRuntimeSpec, containerEnv } from '../src/runtime/runtime-spec.js';
import { makeBusyboxTar } from '../test/fixtures/rootfs-busybox.js';
import type { BenchContext } from './bench-context.js';
import { tinyLayerTar } from './fixtures.js';
import { benchEnv, have, median, run, timeCommand } from './measure.js';

const OVERHEAD_TARGET = { max: 60, text: '< 60 ms over bare runc' };
const WARMUP = 2;
/** The chain depths of the seed's Step 6 experiment (500: the kernel's OVL_MAX_STACK). */
const DEPTHS = [50, 500] as const;

interface Contender {
  readonly name: string;
  readonly argv: readonly string[];
  readonly samples: number[];
  readonly env?: NodeJS.ProcessEnv;
}

const SERVED = 'shibafu run --rm --layers base true (through the service)';
const NODE_CLI = 'shibafu run --rm --layers base true (Node CLI, SHIBAFU_SERVICE=off)';

/**
 * Adds the `run` rows to `ctx.rows` (called by bench/run.ts).
 *
 * @example
 * await benchRun(ctx);
 */
export async function benchRun(ctx: BenchContext): Promise<void> {
  const dir = ctx.lfs.fresh('run');
  const tar = join(dir, 'base.tar');
  makeBusyboxTar(ctx.lfs.fresh('run', 'work'), tar);
  const root = join(dir, 'store');
  const shibafu = (...args: string[]): string[] => [ctx.shibafuBin, '--root', root, ...args];
  run(ctx.shibafuBin, shibafu('layer', 'create', 'base', tar).slice(1), { env: benchEnv() });
  ctx.log('run: building the 50- and 500-layer chains on base...');
  await buildChain(root, Math.max(...DEPTHS) - 1);
  const contenders: Contender[] = [
    { name: 'node -e 0 (Node\'s start alone, for reference)', argv: [process.execPath, '-e', '0'], samples: [] },
    { name: SERVED, argv: shibafu('run', '--rm', '--layers', 'base', 'true'), samples: [] },
    { name: NODE_CLI, argv: shibafu('run', '--rm', '--layers', 'base', 'true'), samples: [], env: { ...benchEnv(), SHIBAFU_SERVICE: 'off' } },
    { name: 'runc run of a prepared busybox bundle, true', argv: bareRunc(ctx, dir, tar), samples: [] },
    ...DEPTHS.map((d) => ({ name: `shibafu run --rm on a ${d}-layer chain, true`, argv: shibafu('run', '--rm', `c${d - 1}`, 'true'), samples: [] })),
  ];
  const podman = have('podman') ? preparePodman(ctx, dir, tar) : null;
  if (podman !== null) contenders.push({ name: 'podman run --rm --network none IMAGE true', argv: podman.argv, samples: [] });
  run(ctx.shibafuBin, shibafu('service', 'start').slice(1), { env: benchEnv() });
  try {
    ctx.log(`run: ${ctx.cliRuns} interleaved rounds of ${contenders.length} commands...`);
    for (let round = 0; round < WARMUP + ctx.cliRuns; round++) {
      for (const c of contenders) {
        const ms = timeCommand(c.argv, { scratch: ctx.scratch, ...(c.env !== undefined ? { env: c.env } : {}) }).wallMs;
        if (round >= WARMUP) c.samples.push(ms);
      }
    }
  } finally {
    spawnSync(ctx.shibafuBin, shibafu('service', 'stop').slice(1), { stdio: 'ignore', env: benchEnv() });
    podman?.cleanup();
  }
  report(ctx, contenders);
}

/** base ← c1 ← c2 ... ← cN: tiny layers (one file each), so a stack of d layers is c(d-1). */
async function buildChain(root: string, n: number): Promise<void> {
  const store = openStore({ root });
  try {
    for (let i = 1; i <= n; i++) {
      await store.createLayer({ name: `c${i}`, source: Readable.from([tinyLayerTar(i)]), parent: i === 1 ? 'base' : `c${i - 1}` });
    }
  } finally {
    store.close();
  }
}

/** A bundle with the tar extracted and the config.json shibafu would write; returns the argv. */
function bareRunc(ctx: BenchContext, dir: string, tar: string): string[] {
  const bundle = join(dir, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  run('tar', ['-xf', tar, '-C', rootfs]);
  const spec = buildRuntimeSpec({
    rootPath: rootfs, args: ['true'], env: containerEnv({ user: [], hostname: 'bare', home: '/root', terminal: false }),
    hostname: 'bare', cgroupsPath: 'shibafu-bench/bare',
  });
  fs.writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const state = join(dir, 'runc-state');
  fs.mkdirSync(state);
  ctx.log(`run: bare runc bundle at ${bundle}`);
  return ['runc', '--root', state, 'run', '--bundle', bundle, 'shibafu-bench-bare'];
}

/** podman with its own store on the loop fs and the same tar imported; REFERENCE.md's flags. */
function preparePodman(ctx: BenchContext, dir: string, tar: string): { argv: string[]; cleanup(): void } | null {
  const proot = join(dir, 'podman-root');
  const global = ['--root', proot, '--runroot', join(dir, 'podman-runroot'), '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  const cleanup = (): void => {
    spawnSync('podman', [...global, 'rmi', '--all', '--force'], { stdio: 'ignore' });
    unmountUnder(dir);
  };
  const imported = spawnSync('podman', [...global, 'import', tar, 'shibafu-bench-base'], { encoding: 'utf8', env: benchEnv() });
  if (imported.status !== 0) {
    ctx.log(`run: podman import failed, podman skipped: ${imported.stderr.trim().split('\n').pop() ?? ''}`);
    cleanup();
    return null;
  }
  const argv = ['podman', ...global, 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768', 'shibafu-bench-base', 'true'];
  return { argv, cleanup };
}

/** containers/storage leaves its overlay dir bind-mounted on itself: unmount before the loop fs goes. */
function unmountUnder(dir: string): void {
  const targets = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4])
    .filter((t): t is string => t !== undefined && t.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
  for (const t of targets) spawnSync('umount', ['-l', t], { stdio: 'ignore' });
}

function report(ctx: BenchContext, contenders: readonly Contender[]): void {
  const m = new Map(contenders.map((c) => [c.name, median(c.samples)]));
  for (const c of contenders) {
    ctx.rows.push({ bench: 'run', name: c.name, value: median(c.samples), unit: 'ms', samples: c.samples, note: `${c.samples.length} runs, interleaved` });
  }
  const shibafu = m.get(SERVED) as number;
  const nodeCli = m.get(NODE_CLI) as number;
  const runc = m.get('runc run of a prepared busybox bundle, true') as number;
  const node = m.get('node -e 0 (Node\'s start alone, for reference)') as number;
  ctx.rows.push({ bench: 'run', name: 'shibafu run: overhead over bare runc, through the service', value: shibafu - runc, unit: 'ms', target: OVERHEAD_TARGET });
  ctx.rows.push({
    bench: 'run', name: 'shibafu run: overhead over bare runc, Node CLI (no service)', value: nodeCli - runc, unit: 'ms', target: OVERHEAD_TARGET,
    note: `of which Node's own start ~${node.toFixed(0)} ms`,
  });
  ctx.rows.push({ bench: 'run', name: 'shibafu run / bare runc (service)', value: shibafu / runc, unit: 'x' });
  const podman = m.get('podman run --rm --network none IMAGE true');
  if (podman !== undefined) {
    ctx.rows.push({ bench: 'run', name: 'podman run / shibafu run, service (how many times faster shibafu is)', value: podman / shibafu, unit: 'x', note: `podman's overhead over bare runc ${(podman - runc).toFixed(0)} ms` });
    ctx.rows.push({ bench: 'run', name: 'podman run / shibafu run, Node CLI', value: podman / nodeCli, unit: 'x' });
  }
  for (const d of DEPTHS) {
    const deep = m.get(`shibafu run --rm on a ${d}-layer chain, true`) as number;
    ctx.rows.push({ bench: 'run', name: `${d}-layer chain: extra start time over 1 layer`, value: deep - shibafu, unit: 'ms' });
  }
}
