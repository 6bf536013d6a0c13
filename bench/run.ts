/**
 * `npm run bench [-- NAME... ] [--runs N] [--iterations N] [--cli-runs N] [--cache DIR] [--size 12G]`
 *
 * Runs the benchmarks of issues 2, 3, 11 and 12 (import, mount, list, run, changes, containers, the
 * storage drivers, images) and the import profile, prints a table with each figure's target and PASS/MISS,
 * and writes everything to .bench/results.json. NAME is one or more of import, mount, list,
 * profile, run, changes, containers, drivers, images (default: all). Needs root: it makes and mounts a journaled
 * ext4 in a loop device (bench/loop-fs.ts) for every store and tar target, and removes it at the
 * end, on failure and on Ctrl-C.
 *
 * It first copies the build (bin/, dist/, package.json; node_modules linked) to a temp dir and runs
 * from there: a run takes ~15 minutes, and a rebuild of dist/ meanwhile (tests, other work in the
 * tree) must not change the code under measurement halfway.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from './bench-context.js';
import { importBench } from './import-bench.js';
import { listBench } from './list-bench.js';
import { LOOP_FS_DEFAULTS, LoopFs } from './loop-fs.js';
import { mountBench } from './mount-stacks.js';
import { profileBench } from './profile-import.js';
import { benchRun } from './run-bench.js';
import { benchChanges } from './changes-bench.js';
import { containersBench } from './containers-bench.js';
import { driversBench } from './drivers-bench.js';
import { imagesBench } from './images-bench.js';
import { renderTable, verdict, type Row } from './report.js';

const BENCHES = {
  import: importBench,
  mount: mountBench,
  list: listBench,
  profile: profileBench,
  run: benchRun,
  changes: async (ctx: BenchContext): Promise<void> => {
    const figures = await benchChanges(ctx);
    ctx.rows.push(...figures.rows);
    ctx.extra.changes = figures;
  },
  containers: containersBench,
  drivers: driversBench,
  images: imagesBench,
} as const;
type BenchName = keyof typeof BENCHES;

interface Options {
  names: BenchName[];
  runs: number;
  iterations: number;
  cliRuns: number;
  cacheDir: string;
  size: string;
}

const USAGE = 'Usage: npm run bench [-- [import|mount|list|profile|run|changes|containers|drivers|images]... [--runs N] [--iterations N] [--cli-runs N] [--cache DIR] [--size 12G]]';

function parseArgs(argv: string[]): Options {
  const o: Options = {
    names: [], runs: 5, iterations: 50, cliRuns: 20,
    cacheDir: join(os.tmpdir(), 'shibafu-bench-cache'), size: LOOP_FS_DEFAULTS.size,
  };
  const int = (v: string | undefined, flag: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--runs') o.runs = int(argv[++i], a);
    else if (a === '--iterations') o.iterations = int(argv[++i], a);
    else if (a === '--cli-runs') o.cliRuns = int(argv[++i], a);
    else if (a === '--cache') o.cacheDir = resolve(argv[++i] ?? '');
    else if (a === '--size') o.size = argv[++i] ?? o.size;
    else if (a === '-h' || a === '--help') { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    else if (a in BENCHES) o.names.push(a as BenchName);
    else throw new Error(`Unknown argument "${a}"\n${USAGE}`);
  }
  if (o.names.length === 0) o.names = Object.keys(BENCHES) as BenchName[];
  return o;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** The commit measured, and how many files differed from it (others may be working in the tree). */
function codeVersion(repoRoot: string): string {
  const head = sh('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['-C', repoRoot, 'status', '--porcelain']).split('\n').filter((l) => l !== '').length;
  return `${head}${dirty > 0 ? ` + ${dirty} uncommitted files` : ''}`;
}

/** The machine, as docs/benchmarks.md reports it. */
function machine(lfs: LoopFs, repoRoot: string): Record<string, unknown> {
  const rootLine = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/') ?? '';
  const [, post = ''] = rootLine.split(' - ');
  const [fstype, device] = post.split(' ');
  // ext4 names its journal thread here ("<none>" without a journal); dumpe2fs may not open the device.
  let journal = 'journal unknown';
  try {
    const task = fs.readFileSync(`/sys/fs/ext4/${(device ?? '').replace('/dev/', '')}/journal_task`, 'utf8').trim();
    journal = task === '<none>' ? 'no journal' : `journal (${task})`;
  } catch { /* not ext4, or an older kernel */ }
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    rootFs: `${fstype ?? '?'} on ${device ?? '?'} (${rootLine.split(' ')[5] ?? ''}; ${journal})`,
    benchFs: `ext4 in a loop device (mkfs.ext4 ${lfs.mkfsArgs.join(' ')}; mount -o loop), image on /`,
    code: codeVersion(repoRoot),
    tar: sh('tar', ['--version']).split('\n')[0],
    podman: sh('podman', ['--version']),
    hyperfine: sh('hyperfine', ['--version']),
  };
}

/** Load average and CPU pressure (PSI "some", 60 s): how busy the machine was besides us. */
function loadNow(): string {
  let psi = '';
  try {
    psi = / avg60=([\d.]+)/.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? '';
  } catch { /* no PSI */ }
  return `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}${psi === '' ? '' : `, CPU pressure ${psi}%`}`;
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    process.stderr.write('npm run bench needs root: it mounts a loop device and overlays.\n');
    return 2;
  }
  // The snapshot of the build we run from (bin/shibafu, dist/); results go to the real repo.
  const pkgRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const repoRoot = process.env.SHIBAFU_BENCH_REPO ?? pkgRoot;
  const shibafuBin = join(pkgRoot, 'bin', 'shibafu');
  const base = fs.mkdtempSync(join(os.tmpdir(), 'shibafu-bench-'));
  const scratch = join(base, 'scratch');
  fs.mkdirSync(scratch);
  const log = (line: string): void => { process.stderr.write(`${line}\n`); };
  let lfs: LoopFs | null = null;
  const cleanup = (): void => {
    lfs?.teardown();
    lfs = null;
    fs.rmSync(base, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      log(`\n${sig}: tearing down the loop fs...`);
      try { cleanup(); } finally { process.exit(130); }
    });
  }
  try {
    log(`bench: loop fs (${options.size}) under ${base}`);
    lfs = LoopFs.create(base, { ...LOOP_FS_DEFAULTS, size: options.size });
    const ctx: BenchContext = {
      lfs, cacheDir: options.cacheDir, scratch, repoRoot, pkgRoot, shibafuBin,
      runs: options.runs, iterations: options.iterations, cliRuns: options.cliRuns,
      log, rows: [], extra: {},
    };
    const started = new Date().toISOString();
    // Other work on the machine shows in the figures: the load is recorded with them.
    const load: Record<string, { before: string; after: string }> = {};
    ctx.extra.load = load;
    for (const name of options.names) {
      const before = loadNow();
      log(`${name}: ${before}`);
      await BENCHES[name](ctx);
      load[name] = { before, after: loadNow() };
    }
    const usage = lfs.usage();
    log(`loop fs at the end: ${(usage.usedBytes / 2 ** 30).toFixed(1)} GiB and ${usage.usedInodes} inodes used`);
    const rows: Row[] = ctx.rows;
    process.stdout.write(`\n${renderTable(rows)}\n`);
    const out = join(repoRoot, '.bench', 'results.json');
    fs.mkdirSync(dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify({
      started, finished: new Date().toISOString(),
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      options: { runs: options.runs, iterations: options.iterations, cliRuns: options.cliRuns, size: options.size },
      machine: machine(lfs, repoRoot),
      rows: rows.map((r) => ({ ...r, result: verdict(r) })),
      ...ctx.extra,
    }, null, 2)}\n`);
    log(`results: ${out}`);
    return 0;
  } finally {
    cleanup();
  }
}

/** Copies the build to a temp dir and runs this script from there; returns its exit status. */
function runFromSnapshot(): number {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const snap = fs.mkdtempSync(join(os.tmpdir(), 'shibafu-bench-pkg-'));
  // The child handles Ctrl-C (it tears the loop fs down); this process only waits, then cleans up.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => {});
  try {
    for (const d of ['bin', 'dist']) fs.cpSync(join(repoRoot, d), join(snap, d), { recursive: true });
    fs.copyFileSync(join(repoRoot, 'package.json'), join(snap, 'package.json'));
    fs.symlinkSync(join(repoRoot, 'node_modules'), join(snap, 'node_modules'));
    const r = spawnSync(process.execPath, [join(snap, 'dist', 'bench', 'run.js'), ...process.argv.slice(2)], {
      stdio: 'inherit', env: { ...process.env, SHIBAFU_BENCH_REPO: repoRoot },
    });
    return r.status ?? 1;
  } finally {
    fs.rmSync(snap, { recursive: true, force: true });
  }
}

if (process.env.SHIBAFU_BENCH_REPO === undefined) {
  process.exitCode = runFromSnapshot();
} else {
  main().then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
