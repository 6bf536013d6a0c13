/**
 * Where an import's time goes: a V8 CPU profile of `layer create` (node --cpu-prof) summarised by
 * self time and by inclusive time of shibafu's own functions, and syscall counts (strace -c -f) of
 * shibafu and of GNU tar on the same archive. Profiled runs are slower than timed ones; read the
 * shares, not the absolute figures.
 */
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import type { BenchContext } from './bench-context.js';
import { ensureFixture, type FixtureId } from './fixtures.js';
import { benchEnv, have, run, syncAll, timeCommand } from './measure.js';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface FunctionTime { fn: string; where: string; ms: number; share: number }
export interface ProfileSummary {
  fixture: string;
  wallMs: number;
  profiledMs: number;
  self: FunctionTime[];
  /** shibafu's own functions (dist/src), time with everything they call. */
  inclusive: FunctionTime[];
}

export interface SyscallRow { syscall: string; calls: number; errors: number; seconds: number }
export interface SyscallSummary { command: string; totalCalls: number; top: SyscallRow[] }

export async function profileBench(ctx: BenchContext, fixtureIds: readonly FixtureId[] = ['small50k', 'mixed']): Promise<void> {
  const profiles: ProfileSummary[] = [];
  const syscalls: SyscallSummary[] = [];
  for (const id of fixtureIds) {
    const f = ensureFixture(id, ctx.cacheDir, ctx.lfs.fresh('gen', `profile-${id}`), ctx.log);
    ctx.log(`profile: node --cpu-prof layer create ${id}.tar...`);
    const dir = join(ctx.scratch, `cpuprof-${id}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    const root = ctx.lfs.fresh('profile', id, 'shibafu-cpuprof');
    syncAll();
    const t = timeCommand([process.execPath, '--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '200',
      join(ctx.shibafuBin, '..', 'shibafu.cjs'), '--root', root, 'layer', 'create', 'x', f.tar], { scratch: ctx.scratch });
    const file = fs.readdirSync(dir).find((n) => n.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`node --cpu-prof wrote no profile in ${dir}`);
    const kept = join(ctx.repoRoot, '.bench', `import-${id}.cpuprofile`);
    fs.mkdirSync(join(ctx.repoRoot, '.bench'), { recursive: true });
    fs.copyFileSync(join(dir, file), kept);
    const summary = summarizeProfile(JSON.parse(fs.readFileSync(join(dir, file), 'utf8')) as CpuProfile, id, t.wallMs);
    profiles.push(summary);
    printProfile(ctx, summary, kept);
    if (id === 'small50k') syscalls.push(...straceBoth(ctx, f.tar, id));
  }
  ctx.extra.profiles = profiles;
  ctx.extra.syscalls = syscalls;
}

/** Self time per function, and inclusive time per shibafu function, from a .cpuprofile. */
export function summarizeProfile(p: CpuProfile, fixture: string, wallMs: number): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode): string => {
    const fn = n.callFrame.functionName === '' ? '(anonymous)' : n.callFrame.functionName;
    const url = n.callFrame.url;
    const where = url === '' ? '' : `${url.startsWith('node:') ? url : basename(url)}:${n.callFrame.lineNumber + 1}`;
    return `${fn}\t${where}`;
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i+1] is the time until the next sample: the time this sample stands for.
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    total += dt;
    const node = byId.get(p.samples[i] as number);
    if (node === undefined) continue;
    const k = keyOf(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      if (!n.callFrame.url.includes('/dist/src/')) continue;
      const key = keyOf(n);
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + dt);
    }
  }
  const rows = (m: Map<string, number>, n: number): FunctionTime[] => [...m.entries()]
    .sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, ms]) => { const [fn, where] = k.split('\t') as [string, string]; return { fn, where, ms, share: ms / total }; });
  return { fixture, wallMs, profiledMs: total, self: rows(self, 25), inclusive: rows(incl, 25) };
}

function printProfile(ctx: BenchContext, s: ProfileSummary, file: string): void {
  const line = (r: FunctionTime): string => `    ${r.ms.toFixed(0).padStart(6)} ms ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.fn}  ${r.where}`;
  ctx.log(`  profiled run ${(s.wallMs / 1000).toFixed(2)} s wall, ${(s.profiledMs / 1000).toFixed(2)} s in the profile (${file})`);
  ctx.log('  top self time:');
  for (const r of s.self.slice(0, 15)) ctx.log(line(r));
  ctx.log('  inclusive time of shibafu functions:');
  for (const r of s.inclusive.slice(0, 15)) ctx.log(line(r));
}

/** strace -c -f of shibafu and of tar on the same archive: which syscalls, how many per entry. */
function straceBoth(ctx: BenchContext, tar: string, id: string): SyscallSummary[] {
  if (!have('strace')) {
    ctx.log('  strace not installed: syscall counts skipped (apt-get install strace)');
    return [];
  }
  const out: SyscallSummary[] = [];
  const cases: [string, (dir: string) => string[]][] = [
    ['shibafu layer create', (dir) => [ctx.shibafuBin, '--root', dir, 'layer', 'create', 'x', tar]],
    ['tar -xf', (dir) => ['tar', '-xf', tar, '-C', dir]],
  ];
  for (const [label, argv] of cases) {
    const dir = ctx.lfs.fresh('profile', id, `strace-${label.split(' ')[0]}`);
    const file = join(ctx.scratch, `strace-${label.split(' ')[0]}.txt`);
    syncAll();
    run('strace', ['-f', '-c', '-o', file, ...argv(dir)], { env: benchEnv() });
    const s = parseStraceSummary(fs.readFileSync(file, 'utf8'), `${label} ${id}.tar`);
    out.push(s);
    ctx.log(`  syscalls of ${s.command}: ${s.totalCalls} in all; ${s.top.slice(0, 10).map((r) => `${r.syscall} ${r.calls}`).join(', ')}`);
  }
  return out;
}

/** Parses strace -c's table ("% time seconds usecs/call calls errors syscall"). */
export function parseStraceSummary(text: string, command: string): SyscallSummary {
  const rows: SyscallRow[] = [];
  let totalCalls = 0;
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || !/^[\d.]+$/.test(cols[0]!)) continue;
    const name = cols[cols.length - 1]!;
    const hasErrors = cols.length === 6;
    const row = { syscall: name, seconds: Number(cols[1]), calls: Number(cols[3]), errors: hasErrors ? Number(cols[4]) : 0 };
    if (name === 'total') totalCalls = row.calls;
    else rows.push(row);
  }
  rows.sort((a, b) => b.calls - a.calls);
  return { command, totalCalls, top: rows.slice(0, 20) };
}
