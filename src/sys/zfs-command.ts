/**
 * The `zfs` and `zpool` commands: ZFS's own interface (libzfs talks to the kernel module, or to
 * the zfs-fuse daemon over its socket, through private ioctls), so the one place where running a
 * program per operation is right. Each call is spawnSync with an argument array, never a shell,
 * and a fixed environment (LC_ALL=C: the failure is classified from stderr, the only thing the
 * tools report besides exit status 1, and it must be the untranslated text).
 *
 * zfs-fuse releases a dataset some time after its FUSE mount is gone: `zfs destroy` of a dataset
 * it has just unmounted answers "dataset is busy" once (measured here: 30-60 ms until it goes
 * through), and so does `zpool destroy`. A busy answer is therefore retried for a short while
 * before it is reported.
 */
import type { SpawnSyncReturns } from 'node:child_process';
import { createRequire } from 'node:module';
import { ShibafuError, type ErrorCode } from '../errors.js';

/** What a failed command ran into, read from its stderr. */
export type ZfsFailure =
  | 'missing' // the dataset, snapshot or pool named does not exist
  | 'exists' // the dataset or snapshot to create is already there
  | 'busy' // mounted or held open (after the retries)
  | 'has-clones' // a snapshot (or its dataset) that clones were made from
  | 'not-mounted' // an unmount of a file system that is not mounted
  | 'no-zfs' // neither the kernel module nor the zfs-fuse daemon answers
  | 'no-space'
  | 'permission'
  | 'other';

export type ZfsOutcome =
  | { readonly ok: true; readonly stdout: string }
  | { readonly ok: false; readonly failure: ZfsFailure; readonly error: ShibafuError };

export interface ZfsRunOptions {
  /** `zfs` (default) or `zpool`. */
  readonly program?: 'zfs' | 'zpool';
  /** Failures returned as an outcome instead of thrown (idempotent steps tolerate 'missing'...). */
  readonly tolerate?: readonly ZfsFailure[];
  /** How long a "busy" answer is retried, in ms (default 3000). */
  readonly busyWaitMs?: number;
}

const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
const HINT_NO_ZFS = 'Start ZFS: the zfs-fuse daemon (zfs-fuse, or /etc/init.d/zfs-fuse start; package zfs-fuse), or load the kernel module (modprobe zfs).';

/**
 * Classifies the stderr of a failed zfs/zpool command (pure). libzfs prints one message per
 * failure, "cannot <verb> '<name>': <reason>"; the reasons below are libzfs's own strings
 * (lib/libzfs/libzfs_util.c, zfs_standard_error), the same in zfs-fuse 0.7 and OpenZFS.
 *
 * @example
 * zfsFailureOf("cannot open 'tank/x': dataset does not exist\n") === 'missing'
 */
export function zfsFailureOf(stderr: string): ZfsFailure {
  if (/make sure that the zfs-fuse daemon is running|failed to initialize ZFS library|ZFS modules are not loaded|\/dev\/zfs/i.test(stderr)) return 'no-zfs';
  if (/dataset does not exist|no such pool|could not find any snapshots to destroy/.test(stderr)) return 'missing';
  if (/dependent clones/.test(stderr)) return 'has-clones';
  if (/not currently mounted/.test(stderr)) return 'not-mounted';
  if (/dataset already exists|pool already exists|filesystem already mounted/.test(stderr)) return 'exists';
  if (/dataset is busy|pool is busy|device busy|is busy/.test(stderr)) return 'busy';
  if (/out of space|No space left/i.test(stderr)) return 'no-space';
  if (/permission denied/i.test(stderr)) return 'permission';
  return 'other';
}

const CODE_OF: Record<ZfsFailure, ErrorCode> = {
  missing: 'SOURCE_NOT_FOUND', exists: 'TARGET_BUSY', busy: 'TARGET_BUSY', 'has-clones': 'TARGET_BUSY', 'not-mounted': 'MOUNT_NOT_FOUND',
  'no-zfs': 'UNSUPPORTED', 'no-space': 'NO_SPACE', permission: 'PERMISSION_DENIED', other: 'IO_ERROR',
};

/**
 * Runs `zfs ARGS` (or `zpool ARGS`) to completion: its stdout, or a ShibafuError saying what
 * failed (UNSUPPORTED, with a hint, when the tools or the daemon are missing). Failures listed
 * in `tolerate` come back as an outcome instead.
 *
 * @example
 * const r = runZfs(['destroy', '-r', 'tank/shibafu/7'], { tolerate: ['missing'] });
 * runZfs(['get', '-H', '-o', 'value', 'mountpoint', 'tank/shibafu']); // "/var/lib/shibafu/zfs\n"
 */
export function runZfs(args: readonly string[], options: ZfsRunOptions = {}): ZfsOutcome {
  const program = options.program ?? 'zfs';
  const deadline = Date.now() + (options.busyWaitMs ?? 3000);
  for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
    const r = spawn(program, args);
    if (r.error !== undefined) throw spawnError(program, args, r.error);
    if (r.status === 0) return { ok: true, stdout: r.stdout };
    const stderr = r.stderr.trim();
    const failure = r.status === null ? 'other' : zfsFailureOf(stderr);
    if (failure === 'busy' && Date.now() + pause <= deadline) {
      sleep(pause);
      continue;
    }
    const error = failureError(program, args, failure, stderr || `killed by ${r.signal ?? 'a signal'}`);
    if (options.tolerate?.includes(failure) === true) return { ok: false, failure, error };
    throw error;
  }
}

/**
 * runZfs for the steps that must succeed: the stdout, or the error thrown.
 *
 * @example
 * const names = zfsOutput(['list', '-H', '-o', 'name', '-r', 'tank/shibafu']).split('\n');
 */
export function zfsOutput(args: readonly string[], options: Omit<ZfsRunOptions, 'tolerate'> = {}): string {
  return (runZfs(args, options) as { stdout: string }).stdout;
}

function failureError(program: string, args: readonly string[], failure: ZfsFailure, stderr: string): ShibafuError {
  const firstLine = stderr.split('\n')[0] ?? stderr;
  const command = `${program} ${args.join(' ')}`;
  return new ShibafuError(CODE_OF[failure], `Cannot run "${command}": ${firstLine}`, {
    ...(failure === 'no-zfs' ? { hint: HINT_NO_ZFS } : {}),
    ...(failure === 'missing' && /no such pool/.test(stderr) ? { hint: 'Create or import the pool (zpool create, zpool import), or name another dataset.' } : {}),
    details: { program, args: [...args], failure, stderr },
  });
}

function spawnError(program: string, args: readonly string[], err: Error): ShibafuError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new ShibafuError('UNSUPPORTED', `Cannot run "${program}": the ZFS tools are not installed`, {
      hint: 'Install them: apt-get install zfs-fuse (ZFS through FUSE; then start its daemon), or zfsutils-linux with the kernel module.',
      cause: err,
    });
  }
  return new ShibafuError('IO_ERROR', `Cannot run "${program} ${args.join(' ')}": ${code ?? err.message}`, { cause: err });
}

let loaded: typeof import('node:child_process') | undefined;

function spawn(program: string, args: readonly string[]): SpawnSyncReturns<string> {
  // Loaded on first use, as in child-process.ts: node:child_process pulls in net and streams.
  loaded ??= createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  return loaded.spawnSync(program, args, {
    encoding: 'utf8', env: ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, maxBuffer: 16 << 20,
  });
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** Blocks for `ms` (the snapshotter is synchronous; the pause is short and bounded). */
function sleep(ms: number): void {
  Atomics.wait(SLEEPER, 0, 0, ms);
}
