/**
 * A file read while another part of this process still appends to it: a pull downloads a layer
 * into its ingest (resumable, content/blob-ingest.ts) and unpacks it from there at the same time,
 * so the layer is unpacked while it streams and a dropped pull keeps what came.
 */
import * as fs from 'node:fs';
import { fromSystemError } from '../errors.js';

const READ_CHUNK = 1 << 20;

export class GrowingFile {
  readonly #path: string;
  /** Opened at once: the writer may finish and remove the file before the reader starts. */
  #fd: number;
  #size: number;
  #done = false;
  #error: unknown = undefined;
  #wake: (() => void) | null = null;

  /** `size`: the bytes already there (a resumed download's). */
  constructor(path: string, size: number) {
    this.#path = path;
    this.#size = size;
    try {
      this.#fd = fs.openSync(path, 'r');
    } catch (err) {
      throw fromSystemError(err, `read ${path}`);
    }
  }

  /** Closes the file (also done when `chunks` ends); idempotent. */
  close(): void {
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
  }

  /** The writer appended: the file now holds `size` bytes. */
  grew(size: number): void {
    this.#size = size;
    this.#notify();
  }

  /** The writer is done (with `error` when it failed: the reader then fails with it). */
  finish(error?: unknown): void {
    this.#done = true;
    this.#error = error;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /**
   * The file's bytes from the start, as they come; ends when the writer is done.
   *
   * @example
   * for await (const chunk of growing.chunks()) parser.write(chunk);
   */
  async *chunks(signal?: AbortSignal): AsyncGenerator<Buffer> {
    const fd = this.#fd;
    if (fd < 0) throw fromSystemError(new Error('closed'), `read ${this.#path}`);
    try {
      let pos = 0;
      for (;;) {
        signal?.throwIfAborted();
        if (pos < this.#size) {
          const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, this.#size - pos));
          const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, buf.length, pos, (err, got) => (err ? reject(fromSystemError(err, `read ${this.#path}`)) : resolve(got))));
          if (n === 0) throw fromSystemError(new Error('the file shrank'), `read ${this.#path}`);
          pos += n;
          yield buf.subarray(0, n);
          continue;
        }
        if (this.#done) {
          if (this.#error !== undefined) throw this.#error;
          return;
        }
        await new Promise<void>((resolve) => { this.#wake = resolve; });
      }
    } finally {
      this.close();
    }
  }
}
