/**
 * The one door to native code: koffi, loaded on first use (about 12 ms measured here, which
 * `shibafu layer list` should not pay), and the C prototypes the rest of `sys/` calls.
 *
 * Symbols come from `dlopen(NULL)`: the C library the node binary already links (glibc or musl),
 * so no library file name is guessed. The mount API wrappers (fsopen, fsconfig, fsmount,
 * move_mount) only exist in glibc >= 2.36; older C libraries reach the same kernel calls through
 * syscall(2), whose numbers 429-432 are the same on every architecture (they postdate the
 * unification of syscall tables in Linux 5.1), and openat2 (437, Linux 5.6) has no glibc wrapper.
 */
import { createRequire } from 'node:module';
import type * as KoffiTypes from 'koffi';
import { SysError, type SysErrorContext } from './sys-error.js';

type Koffi = typeof KoffiTypes;
/** A declared C function; koffi converts JS numbers, strings, Buffers, BigInts and null. */
export type NativeFunction = (...args: unknown[]) => number;

const PROTOTYPES = {
  mknod: 'int mknod(const char *path, uint32_t mode, uint64_t dev)',
  lgetxattr: 'intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)',
  fgetxattr: 'intptr_t fgetxattr(int fd, const char *name, void *value, size_t size)',
  lsetxattr: 'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
  fsetxattr: 'int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)',
  llistxattr: 'intptr_t llistxattr(const char *path, void *list, size_t size)',
  flistxattr: 'intptr_t flistxattr(int fd, void *list, size_t size)',
  lremovexattr: 'int lremovexattr(const char *path, const char *name)',
  fremovexattr: 'int fremovexattr(int fd, const char *name)',
  // ioctl is variadic in C: callers pass the argument's type before its value ('int', fd).
  ioctl: 'int ioctl(int fd, unsigned long request, ...)',
  copy_file_range:
    'intptr_t copy_file_range(int fdIn, void *offIn, int fdOut, void *offOut, size_t len, unsigned int flags)',
  syncfs: 'int syncfs(int fd)',
  flock: 'int flock(int fd, int operation)',
  renameat2:
    'int renameat2(int oldDirFd, const char *oldPath, int newDirFd, const char *newPath, unsigned int flags)',
  fsopen: 'int fsopen(const char *fsName, unsigned int flags)',
  fsconfig: 'int fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux)',
  fsmount: 'int fsmount(int fd, unsigned int flags, unsigned int attrFlags)',
  move_mount:
    'int move_mount(int fromDirFd, const char *fromPath, int toDirFd, const char *toPath, unsigned int flags)',
  mount: 'int mount(const char *source, const char *target, const char *fsType, unsigned long flags, const char *data)',
  umount2: 'int umount2(const char *target, int flags)',
  utimensat: 'int utimensat(int dirFd, const char *path, const void *times, int flags)',
  futimens: 'int futimens(int fd, const void *times)',
  chdir: 'int chdir(const char *path)',
  // O_CREAT is never passed, so the variadic mode argument is never read.
  openat: 'int openat(int dirFd, const char *path, int flags, ...)',
  // No glibc wrapper up to 2.39 at least: reached through syscall(2) below.
  openat2: 'int openat2(int dirFd, const char *path, const void *how, size_t size)',
  fchdir: 'int fchdir(int fd)',
  statx: 'int statx(int dirFd, const char *path, int flags, unsigned int mask, void *buf)',
  // posix_spawn with its opaque attribute and file-action structs (sys/posix-spawn.ts).
  posix_spawn: 'int posix_spawn(_Out_ int *pid, const char *path, const void *actions, const void *attr, const char **argv, const char **envp)',
  posix_spawnp: 'int posix_spawnp(_Out_ int *pid, const char *file, const void *actions, const void *attr, const char **argv, const char **envp)',
  posix_spawn_file_actions_init: 'int posix_spawn_file_actions_init(void *actions)',
  posix_spawn_file_actions_destroy: 'int posix_spawn_file_actions_destroy(void *actions)',
  posix_spawn_file_actions_adddup2: 'int posix_spawn_file_actions_adddup2(void *actions, int fd, int newFd)',
  posix_spawn_file_actions_addopen:
    'int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int flags, uint32_t mode)',
  posix_spawnattr_init: 'int posix_spawnattr_init(void *attr)',
  posix_spawnattr_destroy: 'int posix_spawnattr_destroy(void *attr)',
  posix_spawnattr_setflags: 'int posix_spawnattr_setflags(void *attr, short flags)',
  posix_spawnattr_setsigdefault: 'int posix_spawnattr_setsigdefault(void *attr, const void *signals)',
  posix_spawnattr_setsigmask: 'int posix_spawnattr_setsigmask(void *attr, const void *signals)',
  waitpid: 'int waitpid(int pid, _Out_ int *status, int options)',
  // The service's Unix socket (sys/unix-socket.ts): descriptors arrive with recvmsg's SCM_RIGHTS.
  socket: 'int socket(int domain, int type, int protocol)',
  bind: 'int bind(int fd, const void *addr, uint32_t len)',
  listen: 'int listen(int fd, int backlog)',
  accept4: 'int accept4(int fd, void *addr, void *len, int flags)',
  recvmsg: 'intptr_t recvmsg(int fd, void *msg, int flags)',
} as const;

/** The C functions `sys/` may call. */
export type LibcName = keyof typeof PROTOTYPES;

/** Kernel syscall numbers for wrappers older C libraries lack (same on all architectures). */
const SYSCALL_FALLBACK: Partial<Record<LibcName, { nr: number; args: string[] }>> = {
  move_mount: { nr: 429, args: ['int', 'const char *', 'int', 'const char *', 'unsigned int'] },
  fsopen: { nr: 430, args: ['const char *', 'unsigned int'] },
  fsconfig: { nr: 431, args: ['int', 'unsigned int', 'const char *', 'const char *', 'int'] },
  fsmount: { nr: 432, args: ['int', 'unsigned int', 'unsigned int'] },
  openat2: { nr: 437, args: ['int', 'const char *', 'const void *', 'size_t'] },
};

const nodeRequire = createRequire(import.meta.url);
let loaded: { koffi: Koffi; lib: KoffiTypes.LibraryHandle } | undefined;
const declared = new Map<LibcName, NativeFunction>();

function native(): { koffi: Koffi; lib: KoffiTypes.LibraryHandle } {
  if (loaded === undefined) {
    // require, not import(): the sys calls are synchronous and so must their first use be.
    const koffi = loadKoffi();
    loaded = { koffi, lib: koffi.load(null) };
  }
  return loaded;
}

/**
 * koffi's entry point finds its native module by reading node's ELF header (glibc or musl?) and
 * probing paths: ~9 ms of every command that makes a syscall (measured), more than the rest of
 * koffi's load. The native module of this platform's glibc build is tried first, by its path in
 * the platform package koffi depends on (the same version, pinned by koffi); anything else (musl,
 * another layout) goes through koffi's own search. Its entry only adds deprecated aliases.
 */
function loadKoffi(): Koffi {
  const platform = `${process.platform}-${process.arch}`;
  try {
    const native = nodeRequire(`@koromix/koffi-${platform}/${process.platform}_${process.arch}/koffi.node`) as Koffi;
    if (typeof native.load === 'function' && typeof native.errno === 'function') return native;
  } catch {
    // not this layout, or not a glibc system
  }
  return nodeRequire('koffi') as Koffi;
}

function declare(name: LibcName): NativeFunction {
  const { lib } = native();
  try {
    return lib.func(PROTOTYPES[name]) as NativeFunction;
  } catch (err) {
    const fallback = SYSCALL_FALLBACK[name];
    if (fallback === undefined) throw err;
    const syscall = lib.func('long syscall(long number, ...)');
    return (...args: unknown[]) =>
      Number(syscall(fallback.nr, ...fallback.args.flatMap((type, i) => [type, args[i]])));
  }
}

/**
 * The native C function `name`, declared on first use.
 *
 * @example
 * const ret = libc('syncfs')(fd);
 */
export function libc(name: LibcName): NativeFunction {
  let fn = declared.get(name);
  if (fn === undefined) {
    fn = declare(name);
    declared.set(name, fn);
  }
  return fn;
}

/**
 * The native C function `name`, run on one of koffi's worker threads instead of the JS thread:
 * resolves with its return value. errno is not available (it belongs to the worker thread), so
 * callers must only use this for calls whose failure they can afford to learn about later.
 *
 * @example
 * await libcAsync('syncfs')(fd);
 */
export function libcAsync(name: LibcName): (...args: unknown[]) => Promise<number> {
  const fn = libc(name) as NativeFunction & { async?: (...args: unknown[]) => void };
  const run = fn.async;
  if (run === undefined) throw new Error(`libc function ${name} has no asynchronous form`);
  return (...args) => new Promise((resolve, reject) => {
    run.call(fn, ...args, (err: unknown, ret: number) => (err ? reject(err) : resolve(ret)));
  });
}

/**
 * The calling thread's errno. Read it right after the failed call: koffi does not save it, and
 * any later native call may overwrite it.
 */
export function lastErrno(): number {
  return native().koffi.errno();
}

/**
 * Returns `ret` when the call succeeded, else throws a SysError built from errno. C calls signal
 * failure with -1; anything negative is treated the same.
 *
 * @example
 * check(libc('flock')(fd, LOCK_EX), { syscall: 'flock', path: `fd ${fd}` });
 */
export function check(ret: number, context: SysErrorContext): number {
  if (ret < 0) throw new SysError(lastErrno(), context);
  return ret;
}

/**
 * A string for a `const char *` argument. C stops at the first NUL, so a JS string holding one
 * would name a different file than the caller meant: refuse it as the kernel refuses bad names.
 *
 * @example
 * libc('lremovexattr')(cString(path, 'lremovexattr'), cString(name, 'lremovexattr'));
 */
export function cString(value: string, syscall: string): string {
  if (value.includes('\0')) throw new SysError(22 /* EINVAL */, { syscall, path: value.replace(/\0/g, '\\0') });
  return value;
}

/**
 * The address of a Buffer's bytes, for structs that point at other memory (recvmsg's msghdr).
 * The Buffer must stay referenced while the address is used.
 */
export function bufferAddress(buf: Buffer): bigint {
  return native().koffi.address(buf);
}

/**
 * Calls `onReadable` each time `fd` can be read (libuv's poll handle, on the event loop), until
 * the returned function is called.
 *
 * @example
 * const stop = watchReadable(fd, () => { ... });
 */
export function watchReadable(fd: number, onReadable: () => void): () => void {
  let handle: { close(): void } | null = native().koffi.node.poll(fd, { readable: true, disconnect: true }, () => onReadable());
  return () => {
    handle?.close();
    handle = null;
  };
}

/** True once koffi has been loaded (tests use it to prove read-only commands stay native-free). */
export function nativeLoaded(): boolean {
  return loaded !== undefined;
}
