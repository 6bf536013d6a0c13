/**
 * The `fuse-overlayfs` program (containers/fuse-overlayfs; Debian package fuse-overlayfs): finding
 * it, mounting through it, unmounting its mounts, and telling which directories its live mounts
 * use. It mounts overlay's on-disk format (0/0 whiteouts, `trusted.overlay.opaque`) from a FUSE
 * daemon, the way containers/storage uses a "mount program".
 *
 * Facts of fuse-overlayfs 1.10 (main.c) this module is built on:
 * - `lowerdir` and `upperdir` are split with strtok_r(":") and no escape, so a path holding ":"
 *   cannot be named at all; a path starting with "//" names a plugin. Both are refused here.
 * - The `-o` string goes through libfuse's fuse_opt_parse, which takes `\,` for a comma and `\\`
 *   for a backslash (fuse_opt.c, process_real_option_group).
 * - As root it adds `-o default_permissions,allow_other,suid` itself (get_new_args): the kernel
 *   checks permissions and every user of the container sees the tree. Owners stay exact unless
 *   `squash_to_root`/`squash_to_uid` is given, which is never done here.
 * - It mounts, then daemonizes (fuse_session_mount before fuse_daemonize): when the started
 *   process exits 0 the mount is there, served by a forked daemon whose command line keeps the
 *   original arguments. mountinfo shows only `fuse.fuse-overlayfs`, never the directories, so the
 *   daemons' /proc/<pid>/cmdline is where the dirs of a live mount are found.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, posix } from 'node:path';
import { ShibafuError } from '../errors.js';
import { mountAt } from './mount-info.js';

/** The file-system type mountinfo shows for a fuse-overlayfs mount. */
export const FUSE_OVERLAY_FSTYPE = 'fuse.fuse-overlayfs';

/** Where the program is looked for unless the caller passes its own PATH (the library reads no env). */
export const DEFAULT_SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What to do when fuse-overlayfs cannot be used here. */
export const FUSE_OVERLAY_HINT =
  'Install the fuse-overlayfs package (apt-get install fuse-overlayfs) and load the fuse module (modprobe fuse), or use the overlay driver.';

/**
 * The longest single argument execve takes (MAX_ARG_STRLEN, 32 pages): the whole `-o` string,
 * lowerdir included, is one argument. Measured: 3640 lowers of 35-byte paths (129 KiB) mount,
 * 3700 fail in execve with E2BIG.
 */
export const FUSE_OVERLAY_MAX_OPTIONS = 131072 - 1;

/** The answers of probeFuseOverlay: the basis of `shibafu diagnose` for this driver. */
export interface FuseOverlayProbe {
  /** Absolute path of the program, or null when it is not found. */
  readonly program: string | null;
  /** /dev/fuse exists as a character device. */
  readonly devFuse: boolean;
  /** "1.10" as `fuse-overlayfs --version` says; null when not asked or not found. */
  readonly version: string | null;
  /** Why the driver cannot be used; null when it can. */
  readonly reason: string | null;
}

/** What the probe looks at, injectable for tests. */
export interface FuseOverlayEnv {
  /** Colon-separated directories, as $PATH. */
  readonly searchPath: string;
  isExecutable(path: string): boolean;
  isCharDevice(path: string): boolean;
  /** The output of `program --version`, or null when it does not run. */
  versionText(program: string): string | null;
}

const realEnv: FuseOverlayEnv = {
  searchPath: DEFAULT_SEARCH_PATH,
  isExecutable: (path) => {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  },
  isCharDevice: (path) => {
    try {
      return statSync(path).isCharacterDevice();
    } catch {
      return false;
    }
  },
  versionText: (program) => {
    const r = spawnSync(program, ['--version'], { encoding: 'utf8', env: {}, timeout: 10_000 });
    return r.error === undefined && r.status === 0 ? `${r.stdout}${r.stderr}` : null;
  },
};

/**
 * Finds the program (an absolute path as is, a bare name through the search path) and checks
 * /dev/fuse. Mounts nothing.
 *
 * @example
 * const p = probeFuseOverlay();
 * // { program: '/usr/bin/fuse-overlayfs', devFuse: true, version: '1.10', reason: null }
 * probeFuseOverlay({ env: { searchPath: '/nowhere' }, version: false }).reason
 * // 'no "fuse-overlayfs" program in /nowhere'
 */
export function probeFuseOverlay(options: { program?: string; env?: Partial<FuseOverlayEnv>; version?: boolean } = {}): FuseOverlayProbe {
  const env: FuseOverlayEnv = { ...realEnv, ...options.env };
  const name = options.program ?? 'fuse-overlayfs';
  const program = findProgram(name, env);
  const devFuse = env.isCharDevice('/dev/fuse');
  let version: string | null = null;
  if (program !== null && options.version !== false) {
    version = /version\s+(\S+)/.exec(env.versionText(program) ?? '')?.[1] ?? null;
  }
  const reasons: string[] = [];
  if (program === null) reasons.push(name.includes('/') ? `"${name}" is not an executable file` : `no "${name}" program in ${env.searchPath}`);
  if (!devFuse) reasons.push('/dev/fuse is missing (the fuse module is not loaded)');
  return { program, devFuse, version, reason: reasons.length === 0 ? null : reasons.join('; ') };
}

function findProgram(name: string, env: FuseOverlayEnv): string | null {
  if (name.includes('/')) {
    const abs = posix.resolve('/', name);
    return env.isExecutable(abs) ? abs : null;
  }
  for (const dir of env.searchPath.split(':')) {
    if (!dir.startsWith('/')) continue; // a relative PATH entry would depend on the cwd
    const candidate = posix.join(dir, name);
    if (env.isExecutable(candidate)) return candidate;
  }
  return null;
}

/** What fuseOverlayArgs needs of a FuseOverlayMount (src/snapshots/mount.ts). */
export interface FuseOverlayRequest {
  readonly program: string;
  /** Bottom of the stack first. */
  readonly lowers: readonly string[];
  readonly upper?: string;
  readonly work?: string;
  /** fuse-overlayfs's `volatile`: fsync and syncfs become no-ops, as overlay's option does. */
  readonly volatile?: boolean;
}

/** libfuse's option parser: a comma ends an option unless escaped, a backslash escapes. */
export function escapeFuseOption(value: string): string {
  return value.replace(/[\\,]/g, (c) => `\\${c}`);
}

function nameablePath(path: string, role: string, target: string, split: boolean): string {
  // resolve() also folds a leading "//", which fuse-overlayfs would read as a plugin's name.
  const p = posix.resolve('/', path);
  if (split && p.includes(':')) {
    throw new ShibafuError('UNSUPPORTED', `Cannot mount fuse-overlayfs at "${target}": the ${role} "${p}" holds ":", which fuse-overlayfs cannot take in a path`, {
      hint: 'Keep the store under a path without ":" (--root), or use the overlay driver.',
    });
  }
  return p;
}

/**
 * The program's arguments for a mount (pure): `-o lowerdir=TOP:...:BOTTOM[,upperdir=U,workdir=W,writeback=0[,volatile]] TARGET`,
 * read-only without an upper. UNSUPPORTED for a path fuse-overlayfs cannot name.
 *
 * @example
 * fuseOverlayArgs({ program: '/usr/bin/fuse-overlayfs', lowers: ['/l/a', '/l/b'] }, '/m')
 * // ['-o', 'lowerdir=/l/b:/l/a,ro', '/m']
 */
export function fuseOverlayArgs(m: FuseOverlayRequest, target: string): string[] {
  if (m.lowers.length === 0) throw new ShibafuError('INTERNAL', `Cannot mount fuse-overlayfs at "${target}": no lower directory`);
  const lowers = [...m.lowers].reverse().map((l) => escapeFuseOption(nameablePath(l, 'lower', target, true)));
  const opts = [`lowerdir=${lowers.join(':')}`];
  if (m.upper !== undefined && m.work !== undefined) {
    opts.push(`upperdir=${escapeFuseOption(nameablePath(m.upper, 'upper', target, true))}`);
    opts.push(`workdir=${escapeFuseOption(nameablePath(m.work, 'work dir', target, false))}`);
    // The kernel's writeback cache keeps its own times for a written file, which the file on disk
    // never gets (measured: 3 ms apart): a commit would then record times the container never saw.
    opts.push('writeback=0');
    if (m.volatile === true) opts.push('volatile');
  } else {
    opts.push('ro');
  }
  return ['-o', opts.join(','), posix.resolve('/', target)];
}

/** Lines fuse-overlayfs prints on every run that say nothing about a failure. */
function meaningfulStderr(text: string): string {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('unknown argument ignored')).join('; ');
}

/** Sleeps without a turn of the event loop and without spinning. */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Mounts `m` at `target` by running the program (an argument array, never a shell) and returns
 * once the mount is in mountinfo. STACK_TOO_DEEP when the options exceed what execve takes,
 * UNSUPPORTED when the program cannot run, MOUNT_FAILED with the program's own words otherwise.
 *
 * @example
 * mountFuseOverlay({ program: '/usr/bin/fuse-overlayfs', lowers: [base], upper, work }, merged);
 */
export function mountFuseOverlay(m: FuseOverlayRequest, target: string, options: { timeoutMs?: number } = {}): void {
  const args = fuseOverlayArgs(m, target);
  const where = `Cannot mount fuse-overlayfs at "${target}"`;
  if (Buffer.byteLength(args[1] as string) > FUSE_OVERLAY_MAX_OPTIONS) {
    throw new ShibafuError('STACK_TOO_DEEP', `${where}: ${m.lowers.length} lowers make options longer than one argument may be (${FUSE_OVERLAY_MAX_OPTIONS + 1} bytes)`, {
      hint: 'Flatten the stack (commit it into fewer layers), or use the overlay driver.',
    });
  }
  const timeout = options.timeoutMs ?? 120_000;
  // env {}: the daemon's behaviour must not depend on the caller's environment
  // (FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT and friends).
  const r = spawnSync(m.program, args, { encoding: 'utf8', env: {}, stdio: ['ignore', 'pipe', 'pipe'], timeout });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'E2BIG') {
      throw new ShibafuError('STACK_TOO_DEEP', `${where}: ${m.lowers.length} lowers are more than execve takes in one argument`, {
        hint: 'Flatten the stack (commit it into fewer layers), or use the overlay driver.', cause: r.error,
      });
    }
    if (code === 'ENOENT' || code === 'EACCES') {
      throw new ShibafuError('UNSUPPORTED', `${where}: cannot run "${m.program}" (${code})`, { hint: FUSE_OVERLAY_HINT, cause: r.error });
    }
    throw new ShibafuError('MOUNT_FAILED', `${where}: ${code ?? r.error.message}`, { cause: r.error, details: { timeoutMs: timeout } });
  }
  if (r.status !== 0) {
    const said = meaningfulStderr(r.stderr);
    throw new ShibafuError('MOUNT_FAILED', `${where}: ${m.program} exited with ${r.status ?? r.signal}${said === '' ? '' : `: ${said}`}`, {
      details: { status: r.status, signal: r.signal, stderr: r.stderr },
    });
  }
  // The program mounts before it daemonizes, so this normally passes at once; a wrapper that
  // returns early gets a short while.
  for (let waited = 0; ; waited += 5) {
    if (mountAt(target)?.fsType === FUSE_OVERLAY_FSTYPE) return;
    if (waited >= 2000) break;
    sleepMs(5);
  }
  throw new ShibafuError('MOUNT_FAILED', `${where}: ${m.program} exited 0 but nothing is mounted there`);
}

/** A live fuse-overlayfs daemon and what its command line names. */
export interface FuseOverlayDaemon {
  readonly pid: number;
  readonly mountpoint: string;
  /** lowerdir entries, upperdir and workdir, as given. */
  readonly dirs: readonly string[];
}

/** Undoes escapeFuseOption (and libfuse's `\NNN` octal escapes) and splits on the bare commas. */
function splitFuseOptions(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && i + 1 < value.length) {
      const oct = /^[0-3][0-7]{2}/.exec(value.slice(i + 1));
      if (oct !== null) { cur += String.fromCharCode(parseInt(oct[0], 8)); i += 3; } else { cur += value[i + 1]; i++; }
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

/**
 * The mount point and directories a fuse-overlayfs command line names (pure); null when argv is
 * not fuse-overlayfs's.
 *
 * @example
 * parseFuseOverlayCmdline(['/usr/bin/fuse-overlayfs', '-o', 'lowerdir=/b:/a,upperdir=/u,workdir=/w', '/m'])
 * // { mountpoint: '/m', dirs: ['/b', '/a', '/u', '/w'] }
 */
export function parseFuseOverlayCmdline(argv: readonly string[]): { mountpoint: string; dirs: string[] } | null {
  if (argv.length === 0 || !basename(argv[0] as string).includes('fuse-overlayfs')) return null;
  const dirs: string[] = [];
  let mountpoint: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] as string;
    let opts: string | undefined;
    if (arg === '-o') opts = argv[++i];
    else if (arg.startsWith('-o')) opts = arg.slice(2);
    else if (arg.startsWith('-')) continue;
    else mountpoint = arg;
    for (const opt of opts === undefined ? [] : splitFuseOptions(opts)) {
      const eq = opt.indexOf('=');
      const key = opt.slice(0, eq);
      const val = opt.slice(eq + 1);
      if (key === 'lowerdir') dirs.push(...val.split(':').filter((d) => d !== ''));
      else if (key === 'upperdir' || key === 'workdir') dirs.push(val);
    }
  }
  return mountpoint === undefined ? null : { mountpoint, dirs };
}

/**
 * Every live fuse-overlayfs daemon this process can see, from /proc/<pid>/cmdline (a zombie's
 * is empty and does not count).
 *
 * @example
 * fuseOverlayDaemons().find((d) => d.mountpoint === merged)?.pid
 */
export function fuseOverlayDaemons(proc = '/proc'): FuseOverlayDaemon[] {
  const out: FuseOverlayDaemon[] = [];
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`${proc}/${name}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (!text.includes('fuse-overlayfs')) continue;
    const parsed = parseFuseOverlayCmdline(text.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1));
    if (parsed !== null) out.push({ pid: Number(name), ...parsed });
  }
  return out;
}

/**
 * Whether a live fuse-overlayfs daemon names `dir` (compared after resolving symlinks) as a
 * lower, its upper or its work dir.
 *
 * @example
 * fuseOverlayUses('/var/lib/shibafu/snapshots/7', fuseOverlayDaemons())
 */
export function fuseOverlayUses(dir: string, daemons: readonly FuseOverlayDaemon[]): boolean {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return false;
  }
  const resolve = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  return daemons.some((d) => d.dirs.some((x) => x === real || resolve(x) === real));
}

/**
 * Waits (up to `timeoutMs`) until the daemon of an unmounted fuse-overlayfs mount has exited, so
 * that nothing writes to its upper any more when the caller goes on (a commit seals it).
 * True when it is gone.
 *
 * @example
 * awaitDaemonExit(daemon.pid);
 */
export function awaitDaemonExit(pid: number, timeoutMs = 5000): boolean {
  for (let waited = 0; ; waited += 5) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return true;
    }
    if (cmdline === '') return true; // a zombie: exited, not yet reaped by its new parent
    if (waited >= timeoutMs) return false;
    sleepMs(5);
  }
}
