/**
 * A ZFS pool in a file for the zfs driver's tests, on zfs-fuse (Debian's ZFS without the kernel
 * module): starts the `zfs-fuse` daemon when none answers, creates a pool in a sparse file under
 * a temp dir (cachefile=none, so no other boot or daemon ever imports it), and undoes both.
 *
 * The daemon is run in the foreground of its own session (`--no-daemon`: its pid is the one we
 * spawned, and it writes no pid file), with its socket at /var/run/zfs/zfs_socket; it answers
 * within about 0.2 s here, and a SIGTERM stops it cleanly (unmounts, removes the socket) in about
 * 5 s, as Debian's init script waits for.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ZfsTestPool {
  readonly pool: string;
  readonly dir: string;
  /** The pool's root dataset mount point. */
  readonly mountpoint: string;
  /** Whether this process started the daemon (and so stops it). */
  readonly startedDaemon: boolean;
  destroy(): void;
}

const RUN_DIR = '/var/run/zfs';
const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

function run(program: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string; missing: boolean } {
  const r = spawnSync(program, args, { encoding: 'utf8', env: ENV });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', missing: (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' };
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Why ZFS cannot be tested here, or false. */
export function zfsUnavailable(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (zfs-fuse, pools, bind mounts)';
  if (run('zpool', ['list']).missing || run('zfs-fuse', ['--help']).missing) return 'zfs-fuse is not installed (apt-get install zfs-fuse)';
  return false;
}

function daemonAnswers(): boolean {
  return run('zpool', ['list', '-H']).status === 0;
}

/**
 * @example
 * const zp = createZfsTestPool(); try { ... zp.pool ... } finally { zp.destroy(); }
 */
export function createZfsTestPool(options: { readonly sizeMiB?: number } = {}): ZfsTestPool {
  let daemonPid: number | undefined;
  // The daemon makes its socket's dir and leaves it when it stops; it goes too if it was not there.
  const hadRunDir = existsSync(RUN_DIR);
  if (!daemonAnswers()) {
    const child = spawn('zfs-fuse', ['--no-daemon'], { detached: true, stdio: 'ignore', env: ENV });
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error('Cannot start zfs-fuse');
    daemonPid = pid;
    for (let i = 0; !daemonAnswers(); i++) {
      if (i > 100) {
        stopDaemon(pid);
        throw new Error('zfs-fuse did not answer within 10 s');
      }
      sleep(100);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-zfs-'));
  const pool = `shibafutest${process.pid}`;
  const file = join(dir, 'pool.img');
  const mountpoint = join(dir, 'mnt');
  try {
    mkdirSync(mountpoint);
    writeFileSync(file, '');
    truncateSync(file, (options.sizeMiB ?? 512) * 1024 * 1024);
    const created = run('zpool', ['create', '-o', 'cachefile=none', '-m', mountpoint, pool, file]);
    if (created.status !== 0) throw new Error(`zpool create failed: ${created.stderr}`);
  } catch (err) {
    if (daemonPid !== undefined) stopDaemon(daemonPid);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    pool, dir, mountpoint, startedDaemon: daemonPid !== undefined,
    destroy() {
      // zfs-fuse releases just-unmounted datasets late: "pool is busy" for a moment.
      for (let i = 0; ; i++) {
        const r = run('zpool', ['destroy', pool]);
        if (r.status === 0 || /no such pool/.test(r.stderr)) break;
        if (i > 50) throw new Error(`zpool destroy ${pool} failed: ${r.stderr}`);
        sleep(100);
      }
      if (daemonPid !== undefined) {
        stopDaemon(daemonPid);
        if (!hadRunDir) rmSync(RUN_DIR, { recursive: true, force: true });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function stopDaemon(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 150; i++) {
    if (!alive(pid)) return;
    sleep(100);
  }
  throw new Error(`zfs-fuse (pid ${pid}) did not stop within 15 s`);
}

/** Running, and not a zombie: our child is reaped only when the event loop runs, not while we wait here. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
