/**
 * The tar-split record: every byte of an imported archive that is not file content (headers, PAX
 * records, padding, the end blocks), plus a reference (path, size) for each file's content. With
 * the layer's diff dir it reproduces the original archive byte for byte, so `layer export` of an
 * imported layer hashes to its diffId, as containers/storage does with its tar-split files.
 *
 * Format (gzip-compressed): a sequence of records
 *   'R' u32be length, bytes          raw archive bytes
 *   'F' u64be size, u32be length, path (UTF-8, relative to the diff dir)   file content
 */
import { createWriteStream, createReadStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { pipeline } from 'node:stream';
import { createGzip, createGunzip, type Gzip, constants as zc } from 'node:zlib';
import { ShibafuError } from '../errors.js';

const FLUSH_AT = 256 * 1024;

export class TarSplitWriter {
  readonly #gzip: Gzip;
  readonly #out: WriteStream;
  #raw: Buffer[] = [];
  #rawBytes = 0;
  #failed: unknown = null;

  /** Streams the record to `path` (created, mode 0600). */
  constructor(path: string) {
    this.#gzip = createGzip({ level: zc.Z_BEST_SPEED });
    this.#out = createWriteStream(path, { mode: 0o600, flags: 'wx' });
    this.#gzip.on('error', (err) => { this.#failed ??= err; });
    this.#out.on('error', (err) => { this.#failed ??= err; });
    this.#gzip.pipe(this.#out);
  }

  /** Raw archive bytes (copied: the parser's chunks may be reused). */
  raw(bytes: Buffer): void {
    this.#raw.push(Buffer.from(bytes));
    this.#rawBytes += bytes.length;
    if (this.#rawBytes >= FLUSH_AT) this.#flushRaw();
  }

  /** The next `size` bytes of the archive are the content of `path`. */
  file(path: string, size: number): void {
    this.#flushRaw();
    const name = Buffer.from(path, 'utf8');
    const head = Buffer.alloc(13);
    head.write('F', 0, 'latin1');
    head.writeBigUInt64BE(BigInt(size), 1);
    head.writeUInt32BE(name.length, 9);
    this.#gzip.write(Buffer.concat([head, name]));
  }

  #flushRaw(): void {
    if (this.#rawBytes === 0) return;
    const head = Buffer.alloc(5);
    head.write('R', 0, 'latin1');
    head.writeUInt32BE(this.#rawBytes, 1);
    this.#gzip.write(Buffer.concat([head, ...this.#raw]));
    this.#raw = [];
    this.#rawBytes = 0;
  }

  /** Flushes and waits for the file to be written. */
  async close(): Promise<void> {
    this.#flushRaw();
    this.#gzip.end();
    if (!this.#out.closed) await once(this.#out, 'close');
    if (this.#failed !== null) throw this.#failed;
  }

  /** Stops writing after a failure (the staged file is removed with its directory). */
  destroy(): void {
    this.#gzip.destroy();
    this.#out.destroy();
  }
}

export type TarSplitRecord = { kind: 'raw'; bytes: Buffer } | { kind: 'file'; path: string; size: number };

/**
 * Reads a tar-split record back.
 *
 * @example
 * for await (const r of readTarSplit(path)) if (r.kind === 'file') ...
 */
export async function* readTarSplit(path: string): AsyncGenerator<TarSplitRecord> {
  let buf: Buffer = Buffer.alloc(0);
  // pipeline, not pipe: an error of the file stream (a missing record) must reach the reader;
  // pipeline destroys the gunzip stream with it, which ends the loop below with that error.
  const input = createGunzip();
  pipeline(createReadStream(path), input, () => {});
  for await (const chunk of input) {
    buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
    for (;;) {
      const rec = decodeRecord(buf);
      if (rec === null) break;
      buf = buf.subarray(rec.used);
      yield rec.record;
    }
  }
  if (buf.length > 0) throw new ShibafuError('STORE_CORRUPT', `Cannot read tar-split record ${path}: it ends inside a record`);
}

function decodeRecord(buf: Buffer): { record: TarSplitRecord; used: number } | null {
  if (buf.length < 1) return null;
  const kind = String.fromCharCode(buf[0] as number);
  if (kind === 'R') {
    if (buf.length < 5) return null;
    const len = buf.readUInt32BE(1);
    if (buf.length < 5 + len) return null;
    return { record: { kind: 'raw', bytes: buf.subarray(5, 5 + len) }, used: 5 + len };
  }
  if (kind === 'F') {
    if (buf.length < 13) return null;
    const size = Number(buf.readBigUInt64BE(1));
    const len = buf.readUInt32BE(9);
    if (buf.length < 13 + len) return null;
    return { record: { kind: 'file', size, path: buf.toString('utf8', 13, 13 + len) }, used: 13 + len };
  }
  throw new ShibafuError('STORE_CORRUPT', `Cannot read tar-split record: unknown record type ${JSON.stringify(kind)}`);
}
