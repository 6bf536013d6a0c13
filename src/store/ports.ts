/**
 * The narrow ports through which the store reaches the kernel (STYLE.md). The real implementation
 * is `realPorts()` in src/sys; tests may pass fakes for the parts that need no root. Mounts go
 * through a Mounter (src/snapshots/mount.ts): the store plans them as data and hands them over.
 */
import type { ApplyPorts } from '../tar/layer-applier.js';

export interface LockPort {
  /** flock(2) without waiting; false when another process holds a conflicting lock. */
  tryLock(fd: number, exclusive: boolean): boolean;
}

export interface XattrPort {
  lgetxattr(path: string, name: string): Buffer | null;
  lsetxattr(path: string, name: string, value: Buffer): void;
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
}

export interface SyncPort {
  /** syncfs(2): one call flushes a whole staged tree instead of an fsync per file. */
  syncfs(fd: number): void;
  /**
   * syncfs(2) on a worker thread, for writeback to start while the import goes on; never a
   * durability point (see sys/sync.ts: it needs a descriptor of its own).
   */
  syncfsInBackground(fd: number): Promise<void>;
}

export interface CopyPort {
  /** Copies one regular file's content with the best method the file system offers. */
  copyFile(src: string, dst: string, mode: number): 'reflink' | 'copy_file_range' | 'copy';
}

export interface StorePorts extends ApplyPorts, LockPort, XattrPort, SyncPort, CopyPort {}

export type { MountApi } from '../overlay/mount-overlay.js';
