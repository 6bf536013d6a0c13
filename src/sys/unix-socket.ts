/**
 * A listening Unix stream socket whose clients may pass file descriptors (SCM_RIGHTS): the
 * service's door (src/service/service-listener.ts). Node's `net` cannot receive descriptors, so the
 * socket is made and read with the C calls themselves, non-blocking, and watched by libuv's poll
 * handle on the event loop. Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC): a child
 * gets one only where a spawn hands it over explicitly.
 */
import * as fs from 'node:fs';
import { bufferAddress, check, cString, lastErrno, libc } from './libc.js';
import { ERRNO, SysError } from './sys-error.js';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
/** sizeof(struct sockaddr_un) and its path field (108 bytes, NUL included). */
const SUN_PATH_MAX = 108;
/** Room for up to 16 descriptors in one control message: CMSG_SPACE(16 * 4). */
const CONTROL_SIZE = 16 + 64;

/**
 * Creates the socket file at `path` and listens on it (mode 0600: root alone may talk to a root
 * service). Fails with EADDRINUSE when the path exists: the caller decides whether it is stale.
 *
 * @example
 * const fd = listenUnix('/var/lib/shibafu/service.sock');
 */
export function listenUnix(path: string): number {
  const name = Buffer.from(cString(path, 'bind'));
  if (name.length >= SUN_PATH_MAX) throw new SysError(36 /* ENAMETOOLONG */, { syscall: 'bind', path });
  const fd = check(libc('socket')(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), { syscall: 'socket', path });
  try {
    const addr = Buffer.alloc(2 + SUN_PATH_MAX);
    addr.writeUInt16LE(AF_UNIX, 0);
    name.copy(addr, 2);
    // The socket file gets 0600 from the start: no window in which another user could connect.
    const oldMask = process.umask(0o177);
    try {
      check(libc('bind')(fd, addr, addr.length), { syscall: 'bind', path });
    } finally {
      process.umask(oldMask);
    }
    check(libc('listen')(fd, 128), { syscall: 'listen', path });
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Accepts one pending connection (non-blocking, close-on-exec); null when none is waiting. */
export function acceptUnix(fd: number): number | null {
  return nonBlocking(() => libc('accept4')(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC), 'accept4', fd);
}

/** `call` on a non-blocking socket: asked again on EINTR; null on EAGAIN (nothing there yet). */
function nonBlocking(call: () => number, syscall: string, fd: number): number | null {
  for (;;) {
    const ret = call();
    if (ret >= 0) return ret;
    const errno = lastErrno();
    if (errno === ERRNO.EAGAIN) return null;
    if (errno !== ERRNO.EINTR) throw new SysError(errno, { syscall, path: `socket fd ${fd}` });
  }
}

/** What one receive got: bytes (0 at the end of the stream) and any descriptors passed with them. */
export interface Received {
  readonly bytes: number;
  readonly fds: readonly number[];
}

/**
 * Receives what is there into `buf`, with any descriptors passed along; null when nothing is
 * there yet (the socket is non-blocking).
 *
 * @example
 * const got = receiveWithRights(conn, buf);
 */
export function receiveWithRights(fd: number, buf: Buffer): Received | null {
  const control = Buffer.alloc(CONTROL_SIZE);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(bufferAddress(buf), 0);
  iov.writeBigUInt64LE(BigInt(buf.length), 8);
  // struct msghdr on LP64: name, namelen (+pad), iov, iovlen, control, controllen, flags (+pad).
  const msg = Buffer.alloc(56);
  msg.writeBigUInt64LE(bufferAddress(iov), 16);
  msg.writeBigUInt64LE(1n, 24);
  msg.writeBigUInt64LE(bufferAddress(control), 32);
  msg.writeBigUInt64LE(BigInt(control.length), 40);
  const n = nonBlocking(() => Number(libc('recvmsg')(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)), 'recvmsg', fd);
  return n === null ? null : { bytes: n, fds: passedFds(control, Number(msg.readBigUInt64LE(40))) };
}

/** The descriptors of the SCM_RIGHTS messages among the first `length` bytes of `control`. */
function passedFds(control: Buffer, length: number): number[] {
  const fds: number[] = [];
  for (let off = 0; off + 16 <= length;) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < 16) break;
    if (control.readInt32LE(off + 8) === SOL_SOCKET && control.readInt32LE(off + 12) === SCM_RIGHTS) {
      for (let p = off + 16; p + 4 <= off + len; p += 4) fds.push(control.readInt32LE(p));
    }
    off += (len + 7) & ~7;
  }
  return fds;
}
