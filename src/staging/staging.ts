/**
 * Staging directories under the store's tmp/: the crash-safety protocol (DESIGN.md), shared by the
 * store and the snapshot drivers.
 *
 * Each operation that writes files works in its own `tmp/<kind>-<token>/`, holding an exclusive
 * flock(2) on that directory for its whole life. The kernel drops the lock when the process dies,
 * however it dies, so a sweeper that *can* take the lock knows the owner is gone. The staging dir
 * records its intent (what final path it is about to fill or empty) before it touches anything
 * outside tmp/, so the sweeper can undo exactly that and nothing else.
 */
import * as fs from 'node:fs';
import { randomBytes } from '../sys/random.js';
import { join } from 'node:path';
import { ShibafuError, errnoCode, fromSystemError } from '../errors.js';

/** The store's tmp/ directory (StoreLayout is one); every staging dir is made inside it. */
export interface StagingArea {
  readonly tmp: string;
}

/** flock(2) without waiting; false when another process holds a conflicting lock. */
export interface StagingLocks {
  tryLock(fd: number, exclusive: boolean): boolean;
}

/**
 * What a staging dir is about to do outside tmp/: enough for a sweeper to undo it. Each owner
 * defines its own intents (a discriminated union on `kind`) and registers one undo per kind with
 * the sweep (src/staging/sweep.ts); the staging dir's name starts with the same kind.
 */
export interface Intent {
  readonly kind: string;
}

const INTENT_FILE = 'intent.json';
/** Prefix of a staging dir not yet locked (see `Staging.create`). */
const PENDING_PREFIX = '.new-';
/** Each retry means a sweeper raced this very dir; more than a few means something else is wrong. */
const MAX_CREATE_ATTEMPTS = 8;
/** A kind names its owner's operation: lower-case words joined by "-" (the token follows the last "-"). */
const KIND = /^[a-z]+(?:-[a-z]+)*$/;

export class Staging {
  readonly path: string;
  readonly kind: string;
  #fd: number;
  /** Whether intent.json was written (dispose removes it by name). */
  #intent = false;

  private constructor(path: string, kind: string, fd: number) {
    this.path = path;
    this.kind = kind;
    this.#fd = fd;
  }

  /**
   * Creates and locks a fresh staging dir.
   *
   * A staging dir is never visible under its final name without its lock: a concurrent open's
   * sweep would take it for a dead process's leftover and delete it under its owner. The gap
   * between mkdir and flock is not small (the first native call loads koffi, ~12 ms), and two
   * CLI processes started together hit it every time. So the dir is made under a pending name
   * (`.new-<kind>-<token>`), locked, then renamed: the lock belongs to the open file description,
   * so it survives the rename. A sweeper may delete a pending dir that is not yet locked; the
   * creator then sees ENOENT or a lock it cannot take, and starts over with a new token.
   *
   * @example
   * const stage = Staging.create(layout, 'import', ports); try { ... } finally { stage.dispose(); }
   */
  static create(area: StagingArea, kind: string, locks: StagingLocks, fixedToken?: string): Staging {
    if (!KIND.test(kind)) throw new ShibafuError('INTERNAL', `Cannot stage an operation of kind "${kind}": not a valid kind`);
    for (let attempt = 1; ; attempt++) {
      const token = fixedToken ?? randomBytes(8).toString('hex');
      const pending = stagingPath(area, `${PENDING_PREFIX}${kind}`, token);
      const path = stagingPath(area, kind, token);
      try {
        fs.mkdirSync(pending, 0o700);
      } catch (err) {
        throw fromSystemError(err, `create staging directory ${pending}`);
      }
      let fd = -1;
      try {
        fd = fs.openSync(pending, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
        if (locks.tryLock(fd, true)) {
          fs.renameSync(pending, path);
          return new Staging(path, kind, fd);
        }
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT' || attempt >= MAX_CREATE_ATTEMPTS) {
          if (fd >= 0) fs.closeSync(fd);
          throw fromSystemError(err, `create staging directory ${path}`);
        }
      }
      // A sweeper got there first (it holds the lock, or removed the dir): try another name.
      if (fd >= 0) fs.closeSync(fd);
      if (attempt >= MAX_CREATE_ATTEMPTS) {
        throw new ShibafuError('STORE_BUSY', `Cannot create staging directory ${path}: another process kept removing it`, {
          hint: 'Retry; if it persists, check that nothing else deletes files under the store\'s tmp/.',
        });
      }
    }
  }

  /** The random part of its name, unique among staging dirs: names what the operation makes elsewhere. */
  get token(): string { return this.path.slice(this.path.lastIndexOf('-') + 1); }

  /** The directory descriptor (for syncfs). */
  get fd(): number { return this.#fd; }

  /** A path inside the staging dir. */
  sub(name: string): string { return join(this.path, name); }

  /** Records (durably, unless told otherwise) what this operation is about to do outside tmp/. */
  setIntent<I extends Intent>(intent: I, options: { durable?: boolean } = {}): void {
    const file = this.sub(INTENT_FILE);
    let fd: number;
    try {
      fd = fs.openSync(file, 'w', 0o600);
    } catch (err) {
      throw fromSystemError(err, `record the intent of ${this.path}`);
    }
    this.#intent = true;
    try {
      fs.writeSync(fd, JSON.stringify(intent));
      // Not durable: for operations whose effects do not outlive a reboot either (mounts).
      if (options.durable !== false) fs.fsyncSync(fd);
    } catch (err) {
      throw fromSystemError(err, `record the intent of ${this.path}`);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Releases the lock and keeps the directory with its intent, for the next open's sweep to undo:
   * for an operation that could not undo its own moves and must not delete what it holds.
   */
  abandon(): void {
    if (this.#fd < 0) return;
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }

  /** Removes the staging dir and releases its lock. Never throws: leftovers are swept later. */
  dispose(): void {
    if (this.#fd < 0) return;
    try {
      // A dir holding nothing but its intent (a mount's, once done) goes in two syscalls; the
      // recursive removal probes, lists and stats first (~0.2 ms, per mount, measured here).
      if (this.#intent) fs.unlinkSync(this.sub(INTENT_FILE));
      fs.rmdirSync(this.path);
    } catch {
      try {
        fs.rmSync(this.path, { recursive: true, force: true });
      } catch {
        // Left for the next sweep; the lock goes with the fd below.
      }
    }
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}

/**
 * Whether the operation that staged `tmp/<kind>-<token>` is still running: its dir exists and its
 * lock is held. Used for operations named by a known token (a mount's id).
 */
export function stagingOwnerAlive(area: StagingArea, kind: string, token: string, locks: StagingLocks): boolean {
  let fd: number;
  try {
    fd = fs.openSync(stagingPath(area, kind, token), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    return !locks.tryLock(fd, true);
  } finally {
    fs.closeSync(fd);
  }
}

export interface StaleStaging {
  readonly path: string;
  /** The operation that left it, from its name (`import-<token>`): known even without an intent. */
  readonly kind: string;
  readonly intent: Intent | null;
  /** Releases the lock taken on the stale dir (after it was handled). */
  release(): void;
}

/**
 * The entries of tmp/ ([] when it cannot be read), for several sweeps of one open to share: the
 * snapshotter's and the store's each take their own kinds from one readdir.
 *
 * @example
 * const names = listStaging(layout); sweepSnapshots(ctx, storage, names); sweepLeftovers(ctx, undoers, names);
 */
export function listStaging(area: StagingArea): readonly string[] {
  try {
    return fs.readdirSync(area.tmp);
  } catch {
    return [];
  }
}

/**
 * Finds staging dirs whose owner is gone (their lock can be taken) and locks them for the caller.
 * Cheap when tmp/ is empty, which is the common case: one readdir, or none when the caller passes
 * the `names` it listed (listStaging). Pending dirs (not yet locked by their creator) are removed
 * here when empty and never reported: nothing was done in them.
 */
export function findStaleStaging(
  area: StagingArea, locks: StagingLocks, owns: (kind: string) => boolean = () => true, names: readonly string[] = listStaging(area),
): StaleStaging[] {
  const stale: StaleStaging[] = [];
  for (const name of names) {
    // Another owner's dirs (a snapshot driver's, the store's) are left to that owner's sweep.
    if (!owns(kindOf(name.startsWith(PENDING_PREFIX) ? name.slice(PENDING_PREFIX.length) : name))) continue;
    const path = join(area.tmp, name);
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
    // The lock may be free because the owner just finished: it removes its dir, then closes the
    // fd that held the lock. A dir opened before that rmdir and locked after that close is gone
    // (no links left): not a leftover, and nothing to report.
    if (!stillThere(fd, path)) {
      fs.closeSync(fd);
      continue;
    }
    if (name.startsWith(PENDING_PREFIX)) {
      removePending(path);
      fs.closeSync(fd);
      continue;
    }
    stale.push({ path, kind: kindOf(name), intent: readIntent(path), release: () => fs.closeSync(fd) });
  }
  return stale;
}

/** A pending dir is empty unless something other than shibafu wrote there; then it is left alone. */
function removePending(path: string): void {
  try {
    fs.rmdirSync(path);
  } catch {
    // Gone already (its creator renamed it, or another sweeper removed it), or not empty.
  }
}

/** The kind a staging dir's name starts with (`import-<token>` is an import); 'unknown' if none. */
export function kindOf(name: string): string {
  const kind = name.slice(0, name.lastIndexOf('-'));
  return KIND.test(kind) ? kind : 'unknown';
}

/** `tmp/<kind>-<token>`: the one place a staging dir's name is made. */
export function stagingPath(area: StagingArea, kind: string, token: string): string {
  return join(area.tmp, `${kind}-${token}`);
}

/** True while `fd` is still the directory named `path` (not removed, not replaced). */
export function stillThere(fd: number, path: string): boolean {
  const open = fs.fstatSync(fd);
  if (open.nlink === 0) return false;
  try {
    return fs.lstatSync(path).ino === open.ino;
  } catch {
    return false;
  }
}

function readIntent(dir: string): Intent | null {
  try {
    return JSON.parse(fs.readFileSync(join(dir, INTENT_FILE), 'utf8')) as Intent;
  } catch {
    return null;
  }
}
