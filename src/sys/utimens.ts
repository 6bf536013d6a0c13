/**
 * Nanosecond timestamps. Node's utimes family takes seconds as a double, which cannot hold a
 * 2020s time to the nanosecond (a double has ~0.2 µs resolution there): a PAX mtime of
 * "1700000000.123456789" would land a few hundred ns off. utimensat(2)/futimens(2) take exact
 * {sec, nsec} pairs.
 */
import { futimesSync, lutimesSync } from 'node:fs';
import { check, cString, libc } from './libc.js';

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

export interface Timespec {
  readonly sec: number;
  readonly nsec: number;
}

/**
 * Nanoseconds since the epoch as a timespec, 0 <= nsec < 1e9 (times before 1970 included: BigInt
 * division truncates toward zero, so a negative remainder borrows a second).
 *
 * @example
 * timespecOf(-1n) // { sec: -1, nsec: 999999999 }
 */
export function timespecOf(ns: bigint): Timespec {
  const sec = ns / 1_000_000_000n;
  const nsec = ns - sec * 1_000_000_000n;
  return nsec < 0n ? { sec: Number(sec - 1n), nsec: Number(nsec + 1_000_000_000n) } : { sec: Number(sec), nsec: Number(nsec) };
}

/** Two `struct timespec` (atime, mtime) as the kernel reads them on 64-bit Linux. */
function encode(atime: Timespec, mtime: Timespec): Buffer {
  const buf = Buffer.alloc(32);
  buf.writeBigInt64LE(BigInt(atime.sec), 0);
  buf.writeBigInt64LE(BigInt(atime.nsec), 8);
  buf.writeBigInt64LE(BigInt(mtime.sec), 16);
  buf.writeBigInt64LE(BigInt(mtime.nsec), 24);
  return buf;
}

/**
 * Sets atime and mtime of `path` without following a final symlink.
 *
 * @example
 * lutimens('/layer/etc/passwd', { sec: 1700000000, nsec: 123456789 }, { sec: 1700000000, nsec: 123456789 });
 */
export function lutimens(path: string, atime: Timespec, mtime: Timespec): void {
  // As in futimens: whole seconds go through Node's own call, exact and without koffi's overhead
  // (an import sets the times of every directory and symlink: ~11,000 on the small-file benchmark).
  if (wholeSeconds(atime, mtime)) {
    lutimesSync(cString(path, 'utimensat'), atime.sec, mtime.sec);
    return;
  }
  check(libc('utimensat')(AT_FDCWD, cString(path, 'utimensat'), encode(atime, mtime), AT_SYMLINK_NOFOLLOW), { syscall: 'utimensat', path });
}

/** Sets atime and mtime of an open file. */
export function futimens(fd: number, atime: Timespec, mtime: Timespec): void {
  // Whole seconds are exact as a double: Node's own call skips koffi's ~2.7 µs per call, which
  // adds up over the 50,000 files of an import (most tar entries have no sub-second time).
  if (wholeSeconds(atime, mtime)) {
    futimesSync(fd, atime.sec, mtime.sec);
    return;
  }
  check(libc('futimens')(fd, encode(atime, mtime)), { syscall: 'futimens', path: `fd ${fd}` });
}

/** Whole, non-negative seconds: exact as a double, so Node's utimes family sets them exactly. */
function wholeSeconds(atime: Timespec, mtime: Timespec): boolean {
  return atime.nsec === 0 && mtime.nsec === 0 && atime.sec >= 0 && mtime.sec >= 0;
}
