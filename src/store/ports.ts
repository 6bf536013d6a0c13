/**
 * The narrow ports through which the store reaches the kernel (STYLE.md). The real implementation
 * is `realPorts()` in src/sys; tests may pass fakes for the parts that need no root.
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

export interface StorePorts extends ApplyPorts, LockPort, XattrPort, SyncPort, CopyPort, MountPort {}

export type MountApi = 'auto' | 'new' | 'legacy';

export interface OverlayRequest {
  /** Lower directories, bottom of the stack first. */
  readonly lowers: readonly string[];
  readonly upper?: string;
  readonly work?: string;
  readonly target: string;
  readonly api: MountApi;
  /**
   * For the legacy mount(2) path: short names of the same lowers relative to `cwd` (symlinks under
   * the store's links/ directory), so 500 of them fit in the one-page option string.
   */
  readonly short?: { readonly cwd: string; readonly names: readonly string[] };
  readonly volatile?: boolean;
}

export interface MountPort {
  /** Mounts an overlay; returns the API that did it. Throws STACK_TOO_DEEP past the kernel's limit. */
  mountOverlay(req: OverlayRequest): 'new' | 'legacy';
  /** Unmounts; false when nothing was mounted there (idempotent). */
  unmount(target: string, lazy: boolean): boolean;
  /** Whether an overlay is mounted exactly at `target`. */
  isOverlayMounted(target: string): boolean;
  /** Whether the kernel takes `lowerdir+` (probed once). */
  supportsLowerdirPlus(): boolean;
}
