/**
 * Small regular files of an import written by a second thread, so that their open, write,
 * futimes and close (four syscalls of ~24 µs together on ext4, most of an import of many small
 * files) run beside the main thread's parsing, hashing and directory creation. The machine has
 * two cores; `layer create` of 50,000 small files was bound by these calls on one.
 *
 * The applier decides which files may go (layer-applier.ts #openFile): plain ones, whose owner,
 * mode and whole-second mtime need nothing but the open and a futimes, of at most BATCH_BYTES.
 * Everything else, and every path a queued file could collide with, goes through the main thread
 * after the queue is drained (settle), so the order of effects on disk is the archive's order
 * wherever it matters and every refusal is the one the main thread would have made.
 *
 * The worker reports through shared memory, not messages: the applier is synchronous (the tar
 * parser drives it) and waits with Atomics.wait, which needs no turn of the event loop.
 */
import { constants } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Bytes of file content per batch posted to the worker (and the largest file it takes). */
export const BATCH_BYTES = 1 << 20;
/** Files per batch, for archives of tiny files. */
const BATCH_FILES = 256;
/**
 * Batches posted and not yet written, each in its own shared buffer, reused round robin: the
 * memory is these 4 MiB whatever the archive (buffers made per batch and transferred piled up
 * in the worker, whose heap has little reason to collect: 190 MB peak RSS on the mixed image).
 */
const SLOTS = 4;
/** How long a wait lasts before the thread's progress is checked, and the most it may go without any. */
const WAIT_SLICE_MS = 1000;
const STALL_MS = 120_000;
/** Room for the report of a failed file (JSON: a path of up to PATH_MAX, escaped, and a message). */
const ERROR_BYTES = 65536;

/** The worker could not write a file: what it says of it (the applier makes it a ShibafuError). */
export class BackgroundFailure extends Error {
  constructor(
    readonly path: string,
    /** The step that failed: 'open' (creating it), 'write', 'times'. */
    readonly step: 'open' | 'write' | 'times',
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BackgroundFailure';
  }
}

// CommonJS, run by `new Worker(..., { eval: true })`: no file to find next to the bundle or the
// library. Each file: O_EXCL create with its final mode, the content, atime = mtime, close.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const state = new Int32Array(workerData.state);
const report = new Uint8Array(workerData.report);
const slots = workerData.slots.map((sab) => Buffer.from(sab));
let failed = false;
function fail(path, step, err) {
  failed = true;
  const text = Buffer.from(JSON.stringify({ path, step, code: (err && err.code) || 'EIO', message: String(err && err.message).slice(0, 1000) }));
  report.set(text.subarray(0, ${ERROR_BYTES}));
  Atomics.store(state, 2, Math.min(text.length, ${ERROR_BYTES}));
  Atomics.store(state, 1, 1);
}
parentPort.on('message', (batch) => {
  try {
    const data = slots[batch.slot];
    for (let i = 0; i < batch.paths.length && !failed; i++) {
      const path = batch.paths[i];
      let fd = -1;
      let step = 'open';
      try {
        fd = fs.openSync(path, workerData.flags, batch.modes[i]);
        step = 'write';
        let off = batch.offsets[i];
        const end = off + batch.sizes[i];
        while (off < end) off += fs.writeSync(fd, data, off, end - off);
        step = 'times';
        fs.futimesSync(fd, batch.mtimes[i], batch.mtimes[i]);
      } catch (err) {
        fail(path, step, err);
      } finally {
        if (fd >= 0) fs.closeSync(fd);
      }
    }
  } catch (err) {
    if (!failed) fail('', 'open', err);
  } finally {
    // Counted whatever happened: the main thread waits on this number.
    Atomics.add(state, 0, 1);
    Atomics.notify(state, 0);
  }
});
`;

interface Batch {
  /** Which shared buffer holds its content: batch n uses slot n % SLOTS. */
  slot: number;
  used: number;
  /** The applier's keys of its files (what isPending answers for). */
  keys: string[];
  paths: string[];
  offsets: number[];
  sizes: number[];
  modes: number[];
  mtimes: number[];
}

/**
 * A queue of files for one import. `reserve` a file, `fill` its content as it arrives, then more
 * files; `isPending` tells whether a path may still be in the queue, `drain` waits until
 * everything queued is on disk (and throws the first failure), `close` drains and stops the thread.
 *
 * @example
 * const bg = new BackgroundFiles();
 * const offset = bg.reserve('etc/motd', `${root}/etc/motd`, 0o644, 12, 1_700_000_000);
 * bg.fill(offset, 0, Buffer.from('hello world\n'));
 * bg.drain(); // the file is written
 */
export class BackgroundFiles {
  readonly #worker: Worker;
  /** [batches written, failed (0/1), report length]. */
  readonly #state = new Int32Array(new SharedArrayBuffer(12));
  readonly #report = new Uint8Array(new SharedArrayBuffer(ERROR_BYTES));
  readonly #slots = Array.from({ length: SLOTS }, () => Buffer.from(new SharedArrayBuffer(BATCH_BYTES)));
  #posted = 0;
  #batch: Batch = newBatch(0);
  /** Key → the batch that writes it, for the batches not known to be written (at most SLOTS + 1). */
  readonly #pending = new Map<string, number>();
  /** The keys of the posted batches still in #pending, by slot. */
  readonly #slotKeys: string[][] = Array.from({ length: SLOTS }, () => []);
  #closed = false;

  constructor() {
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        state: this.#state.buffer, report: this.#report.buffer, slots: this.#slots.map((b) => b.buffer),
        flags: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      },
      // It allocates little (batch arrays, one Buffer view each): a small young generation.
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    });
    // It must not keep the process alive after an import that failed before close().
    this.#worker.unref();
  }

  /** Queues the file `key` at `path`, of `size` bytes (at most BATCH_BYTES); returns where its content goes. */
  reserve(key: string, path: string, mode: number, size: number, mtime: number): number {
    if (this.#batch.used + size > BATCH_BYTES || this.#batch.paths.length >= BATCH_FILES) this.#post();
    const b = this.#batch;
    const offset = b.used;
    b.used += size;
    this.#pending.set(key, this.#posted);
    b.keys.push(key);
    b.paths.push(path);
    b.offsets.push(offset);
    b.sizes.push(size);
    b.modes.push(mode);
    b.mtimes.push(mtime);
    return offset;
  }

  /** Copies content of the file reserved at `offset` (`written` bytes of it already in). */
  fill(offset: number, written: number, chunk: Buffer): void {
    chunk.copy(this.#slots[this.#batch.slot] as Buffer, offset + written);
  }

  /** Whether the file `key` was queued and may not be written yet. */
  isPending(key: string): boolean {
    const batch = this.#pending.get(key);
    return batch !== undefined && batch >= Atomics.load(this.#state, 0);
  }

  /** Waits until every queued file is written; throws a BackgroundFailure for the first that was not. */
  drain(): void {
    if (this.#batch.paths.length > 0) this.#post();
    this.#waitFor(this.#posted);
    this.#throwIfFailed();
    this.#pending.clear();
    for (const keys of this.#slotKeys) keys.length = 0;
  }

  /** Drains and stops the thread; idempotent. `quiet`: after another failure, drain without throwing. */
  close(quiet = false): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.drain();
    } catch (err) {
      if (!quiet) throw err;
    } finally {
      void this.#worker.terminate();
    }
  }

  #post(): void {
    this.#throwIfFailed();
    const b = this.#batch;
    this.#worker.postMessage({ slot: b.slot, paths: b.paths, offsets: b.offsets, sizes: b.sizes, modes: b.modes, mtimes: b.mtimes });
    this.#slotKeys[b.slot] = b.keys;
    this.#posted++;
    // The next batch's slot was last used by batch posted - SLOTS: it must be written first, and
    // its keys are no longer pending.
    this.#waitFor(this.#posted - SLOTS + 1);
    const slot = this.#posted % SLOTS;
    const written = this.#posted - SLOTS;
    for (const key of this.#slotKeys[slot] as string[]) if (this.#pending.get(key) === written) this.#pending.delete(key);
    this.#batch = newBatch(slot);
  }

  #waitFor(batches: number): void {
    let since = Date.now();
    for (;;) {
      const done = Atomics.load(this.#state, 0);
      if (done >= batches) return;
      if (Atomics.wait(this.#state, 0, done, WAIT_SLICE_MS) !== 'timed-out') {
        since = Date.now();
        continue;
      }
      // A thread that died (out of memory, killed) never counts again: fail rather than hang.
      if (Date.now() - since >= STALL_MS) {
        throw new BackgroundFailure('', 'open', 'ETIMEDOUT', `the import's file-writing thread wrote nothing for ${STALL_MS / 1000} s`);
      }
    }
  }

  #throwIfFailed(): void {
    if (Atomics.load(this.#state, 1) === 0) return;
    const text = Buffer.from(this.#report.subarray(0, Atomics.load(this.#state, 2))).toString('utf8');
    const f = JSON.parse(text) as { path: string; step: BackgroundFailure['step']; code: string; message: string };
    throw new BackgroundFailure(f.path, f.step, f.code, f.message);
  }
}

function newBatch(slot: number): Batch {
  return { slot, used: 0, keys: [], paths: [], offsets: [], sizes: [], modes: [], mtimes: [] };
}
