/**
 * A tar writer for tests that writes exactly the headers it is told to, so hostile and unusual
 * archives can be built byte by byte: ustar headers, PAX 'x' records, GNU 'L'/'K' long names,
 * raw blocks, a forged checksum, a missing end marker. Built on src/tar/tar-header.ts's encoder;
 * test/import-entries.test.ts cross-checks its output with GNU tar's own listing (`tar -tvf`).
 */
import { BLOCK_SIZE, encodeHeader, encodePax, paddingFor } from '../../src/tar/tar-header.js';
import type { SparseFormat } from '../../src/tar/sparse-map.js';

/**
 * A GNU sparse file as `TarBuilder.sparse` writes it. The map is written exactly as given, true or
 * not, so hostile maps can be built; `data` (the stored bytes) defaults to each segment's size in
 * bytes of its own value (1, 2, 3, ...), which is what `sparseContent` expects.
 */
export interface SparseSpec {
  readonly format: SparseFormat;
  readonly realSize: number;
  /** [offset, size] per segment, in archive order. */
  readonly map: ReadonlyArray<readonly [number, number]>;
  readonly data?: Buffer;
  /** PAX 0.0 / 0.1: the GNU.sparse.numblocks record (default: the map's length). */
  readonly numblocks?: number;
  /** PAX 1.0: the map text at the start of the data instead of the map's own. */
  readonly mapText?: string;
  /** PAX: other records written with the sparse ones (e.g. a major/minor of another version). */
  readonly pax?: ReadonlyArray<readonly [string, string]>;
}

/** The stored bytes `TarBuilder.sparse` writes by default: segment i is filled with (i + 1) & 0xff. */
export function sparseData(map: SparseSpec['map']): Buffer {
  return Buffer.concat(map.map(([, size], i) => Buffer.alloc(size, (i + 1) & 0xff)));
}

/** The file a sparse spec with default data extracts to: zeros, each segment's bytes at its offset. */
export function sparseContent(spec: Pick<SparseSpec, 'realSize' | 'map'>): Buffer {
  const out = Buffer.alloc(spec.realSize);
  spec.map.forEach(([offset, size], i) => out.fill((i + 1) & 0xff, offset, offset + size));
  return out;
}

export interface EntryOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Whole seconds for the header field; a fractional PAX mtime goes in `pax`. */
  mtime?: number;
  uname?: string;
  gname?: string;
  /** PAX records written in an 'x' header just before this entry. */
  pax?: ReadonlyArray<readonly [string, string | Buffer]>;
  /**
   * How a name longer than the 100-byte field is carried: a PAX `path` record (default) or a GNU
   * 'L' header (the header then says `format: 'gnu'`, as GNU tar writes it).
   */
  longName?: 'pax' | 'gnu';
  /** Header typeflag override (e.g. 'S' for a GNU sparse entry). */
  typeflag?: string;
}

/** The default mtime of fixture entries: 2022-04-15, a fixed point so digests are stable. */
export const FIXTURE_MTIME = 1_650_000_000;

const NAME_FIELD = 100;

export class TarBuilder {
  readonly #parts: Buffer[] = [];

  /** A regular file. */
  file(path: string, content: string | Buffer, opts: EntryOptions = {}): this {
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    this.#entry(path, opts.typeflag ?? '0', opts, { data });
    return this;
  }

  dir(path: string, opts: EntryOptions = {}): this {
    this.#entry(path.endsWith('/') ? path : `${path}/`, '5', { mode: 0o755, ...opts });
    return this;
  }

  symlink(path: string, target: string, opts: EntryOptions = {}): this {
    this.#entry(path, '2', { mode: 0o777, ...opts }, { linkname: target });
    return this;
  }

  hardlink(path: string, target: string, opts: EntryOptions = {}): this {
    this.#entry(path, '1', opts, { linkname: target });
    return this;
  }

  char(path: string, major: number, minor: number, opts: EntryOptions = {}): this {
    this.#entry(path, '3', { mode: 0o666, ...opts }, { devmajor: major, devminor: minor });
    return this;
  }

  block(path: string, major: number, minor: number, opts: EntryOptions = {}): this {
    this.#entry(path, '4', { mode: 0o660, ...opts }, { devmajor: major, devminor: minor });
    return this;
  }

  fifo(path: string, opts: EntryOptions = {}): this {
    this.#entry(path, '6', { mode: 0o644, ...opts });
    return this;
  }

  /** An OCI whiteout for `path` (`dir/.wh.name`), an empty regular file as the spec writes it. */
  whiteout(path: string): this {
    const slash = path.lastIndexOf('/');
    return this.file(slash < 0 ? `.wh.${path}` : `${path.slice(0, slash)}/.wh.${path.slice(slash + 1)}`, '', { mode: 0o644 });
  }

  /** The OCI opaque marker of `dir` ('' for the layer root). */
  opaque(dir: string): this {
    return this.file(dir === '' ? '.wh..wh..opq' : `${dir}/.wh..wh..opq`, '', { mode: 0o644 });
  }

  /**
   * A GNU sparse file in one of GNU tar's four layouts (src/tar/sparse-map.ts): old GNU 'S' with
   * extension blocks past four segments, or PAX 0.0, 0.1, 1.0 (the last two named
   * `GNUSparseFile.0/NAME` in the header, as GNU tar does).
   */
  sparse(path: string, spec: SparseSpec, opts: EntryOptions = {}): this {
    const data = spec.data ?? sparseData(spec.map);
    const slash = path.lastIndexOf('/');
    const hidden = `${path.slice(0, slash + 1)}GNUSparseFile.0/${path.slice(slash + 1)}`;
    const numblocks = String(spec.numblocks ?? spec.map.length);
    const extra = spec.pax ?? [];
    switch (spec.format) {
      case 'gnu':
        this.#gnuSparse(path, spec, data, opts);
        return this;
      case 'pax-0.0':
        return this.file(path, data, { ...opts, pax: [['GNU.sparse.size', String(spec.realSize)], ['GNU.sparse.numblocks', numblocks],
          ...spec.map.flatMap(([o, n]) => [['GNU.sparse.offset', String(o)], ['GNU.sparse.numbytes', String(n)]] as const), ...extra] });
      case 'pax-0.1':
        return this.file(hidden, data, { ...opts, pax: [['GNU.sparse.size', String(spec.realSize)], ['GNU.sparse.numblocks', numblocks],
          ['GNU.sparse.name', path], ['GNU.sparse.map', spec.map.flat().join(',')], ...extra] });
      case 'pax-1.0': {
        const text = Buffer.from(spec.mapText ?? `${spec.map.length}\n${spec.map.map(([o, n]) => `${o}\n${n}\n`).join('')}`);
        const body = Buffer.concat([text, Buffer.alloc(paddingFor(text.length)), data]);
        return this.file(hidden, body, { ...opts, pax: [['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', path],
          ['GNU.sparse.realsize', String(spec.realSize)], ...extra] });
      }
    }
  }

  /** A header block exactly as given, data and padding appended; no long-name handling. */
  header(init: Parameters<typeof encodeHeader>[0], data: Buffer = Buffer.alloc(0)): this {
    this.#parts.push(encodeHeader(init), data, Buffer.alloc(paddingFor(data.length)));
    return this;
  }

  /** Bytes appended as they are (a hand-made block, garbage, a cut). */
  raw(bytes: Buffer): this {
    this.#parts.push(bytes);
    return this;
  }

  /** The archive with its end-of-archive marker (two zero blocks). */
  build(): Buffer {
    return Buffer.concat([...this.#parts, Buffer.alloc(2 * BLOCK_SIZE)]);
  }

  /** The archive without any end marker: what a cut-off download looks like. */
  buildUnterminated(): Buffer {
    return Buffer.concat(this.#parts);
  }

  #entry(
    path: string,
    typeflag: string,
    opts: EntryOptions,
    extra: { data?: Buffer; linkname?: string; devmajor?: number; devminor?: number } = {},
  ): void {
    const data = extra.data ?? Buffer.alloc(0);
    const pax: Array<readonly [string, string | Buffer]> = [...(opts.pax ?? [])];
    let name = path;
    let linkname = extra.linkname ?? '';
    let format: 'ustar' | 'gnu' = 'ustar';
    const long = Buffer.byteLength(path) > NAME_FIELD;
    const longLink = Buffer.byteLength(linkname) > NAME_FIELD;
    if (opts.longName === 'gnu') {
      format = 'gnu';
      if (long) {
        this.#gnuLong('L', path);
        name = truncateUtf8(path, NAME_FIELD);
      }
      if (longLink) {
        this.#gnuLong('K', linkname);
        linkname = truncateUtf8(linkname, NAME_FIELD);
      }
    } else {
      if (long) {
        pax.unshift(['path', path]);
        name = truncateUtf8(path, NAME_FIELD);
      }
      if (longLink) {
        pax.unshift(['linkpath', linkname]);
        linkname = truncateUtf8(linkname, NAME_FIELD);
      }
    }
    if (pax.length > 0) {
      const body = encodePax(pax);
      const paxName = truncateUtf8(`PaxHeaders/${name}`, NAME_FIELD);
      this.#parts.push(encodeHeader({ name: paxName, typeflag: 'x', size: body.length, mode: 0o644, mtime: opts.mtime ?? FIXTURE_MTIME }));
      this.#parts.push(body, Buffer.alloc(paddingFor(body.length)));
    }
    this.#parts.push(encodeHeader({
      name,
      typeflag,
      format,
      mode: opts.mode ?? 0o644,
      uid: opts.uid ?? 0,
      gid: opts.gid ?? 0,
      uname: opts.uname ?? '',
      gname: opts.gname ?? '',
      size: data.length,
      mtime: opts.mtime ?? FIXTURE_MTIME,
      linkname,
      devmajor: extra.devmajor ?? 0,
      devminor: extra.devminor ?? 0,
    }));
    this.#parts.push(data, Buffer.alloc(paddingFor(data.length)));
  }

  /** Old GNU 'S': four map slots in the header (byte 386), the rest in extension blocks of 21. */
  #gnuSparse(path: string, spec: SparseSpec, data: Buffer, opts: EntryOptions): void {
    const header = encodeHeader({
      name: path, typeflag: 'S', format: 'gnu', mode: opts.mode ?? 0o644, uid: opts.uid ?? 0, gid: opts.gid ?? 0,
      size: data.length, mtime: opts.mtime ?? FIXTURE_MTIME,
    });
    const slots = spec.map.slice(0, 4);
    slots.forEach(([o, n], i) => writeSlot(header, 386 + i * 24, o, n));
    header[482] = spec.map.length > 4 ? 1 : 0;
    header.write(octal(spec.realSize), 483, 12, 'latin1');
    rechecksum(header);
    this.#parts.push(header);
    for (let i = 4; i < spec.map.length; i += 21) {
      const ext = Buffer.alloc(BLOCK_SIZE);
      spec.map.slice(i, i + 21).forEach(([o, n], k) => writeSlot(ext, k * 24, o, n));
      ext[504] = i + 21 < spec.map.length ? 1 : 0;
      this.#parts.push(ext);
    }
    this.#parts.push(data, Buffer.alloc(paddingFor(data.length)));
  }

  /** A GNU 'L' (long name) or 'K' (long link name) header: the name, NUL-terminated, as data. */
  #gnuLong(typeflag: 'L' | 'K', value: string): void {
    const body = Buffer.concat([Buffer.from(value), Buffer.alloc(1)]);
    this.#parts.push(encodeHeader({ name: '././@LongLink', typeflag, format: 'gnu', size: body.length, mode: 0o644 }));
    this.#parts.push(body, Buffer.alloc(paddingFor(body.length)));
  }
}

function octal(n: number): string {
  return `${n.toString(8).padStart(11, '0')}\0`;
}

function writeSlot(block: Buffer, at: number, offset: number, size: number): void {
  block.write(octal(offset), at, 12, 'latin1');
  block.write(octal(size), at + 12, 12, 'latin1');
}

/** The header checksum again after fields were written into an encoded block. */
function rechecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
}

/** The longest prefix of `s` that fits in `max` UTF-8 bytes without cutting a character. */
function truncateUtf8(s: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** A tar of the given entries, for one-liners: `tarOf((t) => t.file('a', 'x'))`. */
export function tarOf(build: (t: TarBuilder) => void): Buffer {
  const t = new TarBuilder();
  build(t);
  return t.build();
}
