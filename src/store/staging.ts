/**
 * Staging directories under tmp/: the crash-safety protocol (DESIGN.md).
 *
 * Each operation that writes files works in its own `tmp/<kind>-<token>/`, holding an exclusive
 * flock(2) on that directory for its whole life. The kernel drops the lock when the process dies,
 * however it dies, so a sweeper that *can* take the lock knows the owner is gone. The staging dir
 * records its intent (what final path it is about to fill or empty) before it touches anything
 * outside tmp/, so the sweeper can undo exactly that and nothing else.
 */
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fromSystemError } from '../errors.js';
import type { StoreLayout } from './layout.js';
import type { LockPort } from './ports.js';

export type StagingKind = 'import' | 'open' | 'remove' | 'seal' | 'mount';

/** What a staging dir is about to do outside tmp/: enough for a sweeper to undo it. */
export interface StagingIntent {
  readonly kind: StagingKind;
  /** The final directory this operation fills (import, open, seal) or empties (remove). */
  readonly target?: string;
  /** For a seal: where the directory came from (open/<token>), to move it back. */
  readonly source?: string;
  /** The row that makes `target` visible: a chainId for sealed layers, an open token, a mount id. */
  readonly chainId?: string;
  readonly openToken?: string;
  readonly mountId?: string;
}

const INTENT_FILE = 'intent.json';

export class Staging {
  readonly path: string;
  readonly kind: StagingKind;
  #fd: number;

  private constructor(path: string, kind: StagingKind, fd: number) {
    this.path = path;
    this.kind = kind;
    this.#fd = fd;
  }

  /**
   * Creates and locks a fresh staging dir.
   *
   * @example
   * const stage = Staging.create(layout, 'import', ports); try { ... } finally { stage.dispose(); }
   */
  static create(layout: StoreLayout, kind: StagingKind, locks: LockPort): Staging {
    const path = layout.staging(kind, randomBytes(8).toString('hex'));
    try {
      fs.mkdirSync(path, 0o700);
    } catch (err) {
      throw fromSystemError(err, `create staging directory ${path}`);
    }
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    // Nobody else knows this name yet, so the lock is always free.
    locks.tryLock(fd, true);
    return new Staging(path, kind, fd);
  }

  /** The directory descriptor (for syncfs). */
  get fd(): number { return this.#fd; }

  /** A path inside the staging dir. */
  sub(name: string): string { return join(this.path, name); }

  /** Records (durably) what this operation is about to do outside tmp/. */
  setIntent(intent: StagingIntent): void {
    const file = this.sub(INTENT_FILE);
    const fd = fs.openSync(file, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(intent));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Removes the staging dir and releases its lock. Never throws: leftovers are swept later. */
  dispose(): void {
    if (this.#fd < 0) return;
    try {
      fs.rmSync(this.path, { recursive: true, force: true });
    } catch {
      // Left for the next sweep; the lock goes with the fd below.
    }
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}

export interface StaleStaging {
  readonly path: string;
  readonly intent: StagingIntent | null;
  /** Releases the lock taken on the stale dir (after it was handled). */
  release(): void;
}

/**
 * Finds staging dirs whose owner is gone (their lock can be taken) and locks them for the caller.
 * Cheap when tmp/ is empty, which is the common case: one readdir.
 */
export function findStaleStaging(layout: StoreLayout, locks: LockPort): StaleStaging[] {
  let names: string[];
  try {
    names = fs.readdirSync(layout.tmp);
  } catch {
    return [];
  }
  const stale: StaleStaging[] = [];
  for (const name of names) {
    const path = join(layout.tmp, name);
    let fd: number;
    try {
      fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch {
      continue;
    }
    if (!locks.tryLock(fd, true)) {
      fs.closeSync(fd);
      continue;
    }
    stale.push({ path, intent: readIntent(path), release: () => fs.closeSync(fd) });
  }
  return stale;
}

function readIntent(dir: string): StagingIntent | null {
  try {
    return JSON.parse(fs.readFileSync(join(dir, INTENT_FILE), 'utf8')) as StagingIntent;
  } catch {
    return null;
  }
}
