/**
 * A child process started with posix_spawn(3) instead of node:child_process, for the one spawn
 * whose cost a user waits for: the container runtime of `shibafu run` in the foreground.
 *
 * Why: Node forks (libuv's uv_spawn copies the page tables of a ~80 MiB process, then waits for
 * the child's exec), while glibc's posix_spawn uses clone(CLONE_VM|CLONE_VFORK): ~3 ms against
 * ~8 ms per spawn measured here. And node:child_process loads ~25 internal modules (net, dgram,
 * the stream classes) that `run` otherwise never needs. The child is reaped by waitpid(2) on one
 * of koffi's worker threads; libuv never sees it (its SIGCHLD handler only waits for the pids it
 * spawned itself), so nothing else reaps it first.
 */
import { constants } from 'node:os';
import { cString, libc, libcAsync } from './libc.js';
import type { ProcessExit } from './child-process.js';
import { SysError } from './sys-error.js';

/** <spawn.h> flags (glibc and musl agree). */
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const O_RDWR = 2;
/**
 * The opaque posix_spawnattr_t (336 bytes in glibc x86_64), posix_spawn_file_actions_t (80) and
 * sigset_t (128) get zeroed buffers larger than any C library's.
 */
const OPAQUE_BYTES = 1024;

/** What the child's fd 0, 1 and 2 are: one of this process's fds, or /dev/null. */
export type NativeStdio = number | 'ignore';

export interface NativeSpawnOptions {
  readonly stdio: readonly [NativeStdio, NativeStdio, NativeStdio];
  /** setsid() in the child. */
  readonly newSession: boolean;
  /** The child's environment, as KEY=VALUE entries. */
  readonly env: readonly string[];
}

export interface NativeChild {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  /** Sends a signal; false once the child is gone (reaped, so its pid may belong to another). */
  signal(sig: NodeJS.Signals): boolean;
}

/**
 * Starts `file` (searched in PATH when it has no slash) with `args` (argv[1..]). Every signal
 * the child could inherit as ignored (Node ignores SIGPIPE) is reset to its default and its mask
 * is emptied, as libuv does for its children. Throws SysError (ENOENT, EACCES, ...) when the
 * program cannot be executed: glibc reports the exec's failure as posix_spawn's result.
 *
 * @example
 * const child = posixSpawn('runc', ['run', id], { stdio: [0, 1, 2], newSession: true, env });
 * const { code, signal } = await child.exited;
 */
export function posixSpawn(file: string, args: readonly string[], options: NativeSpawnOptions): NativeChild {
  const actions = Buffer.alloc(OPAQUE_BYTES);
  const attr = Buffer.alloc(OPAQUE_BYTES);
  // Every bit set, not sigfillset(3): glibc's leaves out its internal signals 32 and 33, which
  // its posix_spawn then leaves ignored in the child and so in everything the child execs.
  const allSignals = Buffer.alloc(OPAQUE_BYTES, 0xff);
  const noSignals = Buffer.alloc(OPAQUE_BYTES);
  const spawnCall = file.includes('/') ? 'posix_spawn' : 'posix_spawnp';
  initOrThrow(libc('posix_spawn_file_actions_init')(actions), 'posix_spawn_file_actions_init');
  try {
    initOrThrow(libc('posix_spawnattr_init')(attr), 'posix_spawnattr_init');
    try {
      options.stdio.forEach((from, fd) => {
        const ret = from === 'ignore'
          ? libc('posix_spawn_file_actions_addopen')(actions, fd, '/dev/null', O_RDWR, 0)
          // An fd given as itself (0 as 0) is inherited as is: this process's 0-2 are not close-on-exec.
          : libc('posix_spawn_file_actions_adddup2')(actions, from, fd);
        initOrThrow(ret, 'posix_spawn_file_actions');
      });
      initOrThrow(libc('posix_spawnattr_setsigdefault')(attr, allSignals), 'posix_spawnattr_setsigdefault');
      initOrThrow(libc('posix_spawnattr_setsigmask')(attr, noSignals), 'posix_spawnattr_setsigmask');
      const flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (options.newSession ? POSIX_SPAWN_SETSID : 0);
      initOrThrow(libc('posix_spawnattr_setflags')(attr, flags), 'posix_spawnattr_setflags');
      const pid = [0];
      const argv = [cString(file, spawnCall), ...args.map((a) => cString(a, spawnCall)), null];
      const envp = [...options.env.map((e) => cString(e, spawnCall)), null];
      const ret = libc(spawnCall)(pid, cString(file, spawnCall), actions, attr, argv, envp);
      if (ret !== 0) throw new SysError(ret, { syscall: spawnCall, path: file });
      return watch(pid[0] as number);
    } finally {
      libc('posix_spawnattr_destroy')(attr);
    }
  } finally {
    libc('posix_spawn_file_actions_destroy')(actions);
  }
}

/** The posix_spawn helpers return an errno value (0 on success), not -1. */
function initOrThrow(ret: number, syscall: string): void {
  if (ret !== 0) throw new SysError(ret, { syscall });
}

function watch(pid: number): NativeChild {
  let reaped = false;
  const exited = reap(pid).then((status) => {
    reaped = true;
    return decodeStatus(status);
  });
  return {
    pid,
    exited,
    signal(sig) {
      // Until waitpid returns the child is ours, a zombie at worst: its pid cannot be reused.
      if (reaped) return false;
      try {
        process.kill(pid, sig);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/**
 * waitpid(pid) on a worker thread. errno stays on that thread, so a -1 (an EINTR the C library
 * did not restart) is simply tried again; a child that is ours cannot give ECHILD for long.
 */
async function reap(pid: number): Promise<number> {
  const waitpid = libcAsync('waitpid');
  for (let attempt = 0; attempt < 100; attempt++) {
    const status = [0];
    if (await waitpid(pid, status, 0) === pid) return status[0] as number;
  }
  throw new SysError(10 /* ECHILD */, { syscall: 'waitpid', path: `pid ${pid}` });
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/**
 * A wait status as <sys/wait.h> lays it out: the signal in the low 7 bits, else the exit code in
 * the next byte.
 *
 * @example
 * decodeStatus(7 << 8) // { code: 7, signal: null }
 * decodeStatus(9)      // { code: null, signal: 'SIGKILL' }
 */
export function decodeStatus(status: number): ProcessExit {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: SIGNAL_NAMES.get(sig) ?? null };
}
