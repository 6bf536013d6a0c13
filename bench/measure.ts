/**
 * Timing and process helpers for the benchmarks. Bench code may shell out (it is not product code);
 * every command is run with an argv array, never through a shell built from strings, except the
 * fixed `sh -c '... && sync'` forms whose arguments are passed positionally.
 */
import { execFileSync, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

/** GNU time(1): the only robust way to get a child's peak RSS (ru_maxrss of the waited child). */
export const GNU_TIME = '/usr/bin/time';

/**
 * The environment for timed commands: this one less NODE_EXTRA_CA_CERTS, which makes every Node
 * start parse a CA bundle (measured here: +70-100 ms of CPU per start). Sandboxes set it; a user's
 * shell does not, and `shibafu` never makes a TLS connection in these commands.
 */
export function benchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export interface Timed {
  /** Wall time measured around the whole child, fork/exec and exit included. */
  readonly wallMs: number;
  readonly userS: number | null;
  readonly sysS: number | null;
  /** Peak resident set of the largest process of the command (GNU time's %M), in KiB. */
  readonly maxRssKb: number | null;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Where time(1) writes its figures (a scratch file, overwritten). */
  readonly scratch: string;
}

/** Runs argv to completion and times it; throws with its stderr on a non-zero exit. */
export function timeCommand(argv: readonly string[], options: RunOptions): Timed {
  const haveTime = fs.existsSync(GNU_TIME);
  const statsFile = join(options.scratch, 'time.out');
  const full = haveTime ? [GNU_TIME, '-f', '%U %S %M', '-o', statsFile, ...argv] : [...argv];
  const spawnOptions: SpawnSyncOptions = {
    cwd: options.cwd, env: options.env ?? benchEnv(), stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20,
  };
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0] as string, full.slice(1), spawnOptions);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) {
    throw new Error(`Command failed (status ${r.status ?? r.signal}): ${argv.join(' ')}\n${String(r.stderr).trim()}`);
  }
  if (!haveTime) return { wallMs, userS: null, sysS: null, maxRssKb: null };
  // time(1) writes "Command exited with non-zero status" lines first on failure; the last line is ours.
  const last = fs.readFileSync(statsFile, 'utf8').trim().split('\n').pop() ?? '';
  const [u, s, m] = last.split(' ').map(Number);
  return { wallMs, userS: u ?? null, sysS: s ?? null, maxRssKb: m ?? null };
}

/** Runs a command for its side effect; returns stdout; throws with stderr on failure. */
export function run(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  try {
    return execFileSync(cmd, args, { cwd: options.cwd, env: options.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; status?: number };
    throw new Error(`Command failed (status ${e.status ?? '?'}): ${cmd} ${args.join(' ')}\n${(e.stderr ?? '').trim()}`, { cause: err });
  }
}

/** Whether a program is on PATH (or an absolute path that exists). */
export function have(program: string): boolean {
  if (program.startsWith('/')) return fs.existsSync(program);
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program], { stdio: 'ignore' }).status === 0;
}

/** Flushes every file system (untimed, before a timed run: no run pays for the previous one's dirty data). */
export function syncAll(): void {
  run('sync', []);
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Counts inodes under a directory (du --inodes), for sanity checks that both tools made the same tree. */
export function inodeCount(dir: string): number {
  return Number(run('du', ['--inodes', '-s', dir]).split('\t')[0]);
}

/**
 * Global options for a podman with its own store under `dir` (on the loop fs) and its run-time
 * state in a fresh dir under /tmp: podman refuses a runroot path of more than 50 characters.
 * `dispose` removes the runroot.
 *
 * @example
 * const pm = podmanStore(dir); try { run('podman', [...pm.args, 'import', tar, 'img']); } finally { pm.dispose(); }
 */
export function podmanStore(dir: string): { args: string[]; dispose(): void } {
  const runroot = fs.mkdtempSync('/tmp/shibafu-pr-');
  return {
    args: ['--root', join(dir, 'root'), '--runroot', runroot, '--storage-driver', 'overlay', '--events-backend', 'none', '--cgroup-manager', 'cgroupfs'],
    dispose: () => fs.rmSync(runroot, { recursive: true, force: true }),
  };
}
