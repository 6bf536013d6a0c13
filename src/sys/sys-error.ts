/**
 * The error every native call in `sys/` throws. It looks like Node's own system errors (`code`,
 * `errno`, `syscall`, `path`) so callers treat both alike: test `err.code` ('EEXIST', 'ENOENT',
 * ...) where they must react, and map the rest once with `fromSystemError(err, action)`.
 */
import { getSystemErrorMap, getSystemErrorName } from 'node:util';

/**
 * The errno name Node itself would use for a kernel errno, so a SysError and a node:fs error for
 * the same failure carry the same `code`. Node (libuv) names 95 'ENOTSUP' (not 'EOPNOTSUPP') and
 * 11 'EAGAIN' (not 'EWOULDBLOCK'): they are one number each on Linux.
 *
 * @example
 * errnoName(17) === 'EEXIST'
 */
export function errnoName(errno: number): string {
  const name = getSystemErrorName(-Math.abs(errno));
  // libuv answers "Unknown system error -N" for numbers it has no name for.
  return name.startsWith('Unknown') ? `E${Math.abs(errno)}` : name;
}

/**
 * The errno numbers native callers branch on (Linux, every architecture Node runs on here), in
 * one place: EAGAIN is also EWOULDBLOCK.
 *
 * @example
 * if (lastErrno() === ERRNO.EINTR) continue;
 */
export const ERRNO = { EINTR: 4, EAGAIN: 11, ERANGE: 34, ENODATA: 61, ENOTSUP: 95 } as const;

function describe(errno: number): string {
  return getSystemErrorMap().get(-Math.abs(errno))?.[1] ?? `errno ${errno}`;
}

/** What a failed call was doing, for the message and for callers that inspect it. */
export interface SysErrorContext {
  /** The C function that failed (`fsconfig`, `lsetxattr`, ...). */
  syscall: string;
  /** The path (or for fd calls, a description of the fd) the call was about. */
  path?: string;
  /** The second path, for rename-like calls. */
  dest?: string;
  /** Extra words from the kernel (the fs context log of fsconfig, for instance). */
  detail?: string;
}

/**
 * A failed system call. `errno` is the kernel's positive number (Node's own errors carry it
 * negated); `code` is its name as Node spells it.
 *
 * @example
 * try { renameat2(a, b, RENAME_NOREPLACE); }
 * catch (err) { if (isSysError(err, 'EEXIST')) { ... } else throw err; }
 */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string | undefined;
  readonly dest: string | undefined;
  /** The kernel's own explanation when it gave one (fs context log lines), else undefined. */
  readonly detail: string | undefined;

  constructor(errno: number, context: SysErrorContext) {
    const code = errnoName(errno);
    const where = [context.path, context.dest]
      .filter((p): p is string => p !== undefined)
      .map((p) => `'${p}'`)
      .join(' -> ');
    const tail = context.detail === undefined ? '' : `: ${context.detail}`;
    super(`${code}: ${describe(errno)}, ${context.syscall}${where === '' ? '' : ` ${where}`}${tail}`);
    this.name = 'SysError';
    this.code = code;
    this.errno = Math.abs(errno);
    this.syscall = context.syscall;
    this.path = context.path;
    this.dest = context.dest;
    this.detail = context.detail;
  }
}

/**
 * True for a SysError (or any Node system error) whose code is one of `codes` (any code if none).
 * The C aliases EOPNOTSUPP and EWOULDBLOCK match Node's ENOTSUP and EAGAIN.
 *
 * @example
 * if (isSysError(err, 'ENODATA', 'ENOTSUP')) return null;
 */
export function isSysError(err: unknown, ...codes: string[]): err is Error & { code: string } {
  if (typeof err !== 'object' || err === null || !('code' in err)) return false;
  const code = (err as { code: unknown }).code;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return false;
  return codes.length === 0 || codes.some((wanted) => (ALIASES[wanted] ?? wanted) === code);
}

/** C names that share a number with the name Node uses (so callers may write either). */
const ALIASES: Record<string, string> = { EOPNOTSUPP: 'ENOTSUP', EWOULDBLOCK: 'EAGAIN', EDEADLOCK: 'EDEADLK' };
