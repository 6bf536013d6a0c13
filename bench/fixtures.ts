/**
 * Benchmark fixtures, generated deterministically (seeded) and cached: a ~200 MB "mixed" image
 * layer (4 large incompressible-ish files, 150 shared libraries, 12,000 small files in a
 * distro-like tree) and a 50,000-small-file layer (a node_modules-like tree). Each is written as a
 * tree, archived by GNU tar in a reproducible form (sorted, owner 0, fixed mtime, POSIX format as
 * OCI tools write it) and gzipped with `gzip -n`, so the same seed gives the same bytes anywhere.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { ByteSource, Prng } from './prng.js';
import { run } from './measure.js';

/** Bump when the generators change: cached fixtures of another version are not reused. */
const GENERATOR_VERSION = 'v1';
const MTIME = 1_700_000_000;

export type FixtureId = 'mixed' | 'small50k';

export interface Fixture {
  readonly id: FixtureId;
  readonly title: string;
  readonly tar: string;
  readonly gz: string;
  readonly tarBytes: number;
  readonly gzBytes: number;
  readonly tarSha256: string;
  /** Entries in the archive (files, dirs, symlinks). */
  readonly entries: number;
  readonly regularFiles: number;
}

/**
 * Returns the fixture from `cacheDir`, generating it first (tree under `scratchDir`, which should be
 * on the benchmark's loop fs; removed afterwards) when it is missing.
 */
export function ensureFixture(id: FixtureId, cacheDir: string, scratchDir: string, log: (s: string) => void): Fixture {
  fs.mkdirSync(cacheDir, { recursive: true });
  const base = join(cacheDir, `${id}-${GENERATOR_VERSION}`);
  const manifest = `${base}.json`;
  if (fs.existsSync(manifest)) {
    const f = JSON.parse(fs.readFileSync(manifest, 'utf8')) as Fixture;
    if (fileSize(f.tar) === f.tarBytes && fileSize(f.gz) === f.gzBytes) return f;
  }
  log(`generating fixture ${id} (cached in ${cacheDir} for later runs)...`);
  const tree = join(scratchDir, `${id}-tree`);
  fs.rmSync(tree, { recursive: true, force: true });
  fs.mkdirSync(tree, { recursive: true });
  const stats = id === 'mixed' ? writeMixedTree(tree) : writeSmallTree(tree, 50_000);
  const tar = `${base}.tar`;
  const gz = `${base}.tar.gz`;
  run('tar', [
    '--create', '--file', `${tar}.tmp`, '--format=posix', '--pax-option=delete=atime,delete=ctime',
    '--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${MTIME}`,
    '-C', tree, ...fs.readdirSync(tree).sort(),
  ]);
  fs.renameSync(`${tar}.tmp`, tar);
  const out = fs.openSync(`${gz}.tmp`, 'w');
  try {
    const r = spawnSync('gzip', ['-n', '-6', '-c', tar], { stdio: ['ignore', out, 'inherit'] });
    if (r.status !== 0) throw new Error(`gzip failed on ${tar}`);
  } finally {
    fs.closeSync(out);
  }
  fs.renameSync(`${gz}.tmp`, gz);
  fs.rmSync(tree, { recursive: true, force: true });
  const fixture: Fixture = {
    id,
    title: id === 'mixed' ? 'mixed ~200 MB (4 large, 150 libs, 12k small)' : '50,000 small files (0-4 KB)',
    tar, gz, tarBytes: fileSize(tar), gzBytes: fileSize(gz), tarSha256: sha256File(tar),
    entries: stats.entries, regularFiles: stats.files,
  };
  fs.writeFileSync(manifest, `${JSON.stringify(fixture, null, 2)}\n`);
  return fixture;
}

function fileSize(path: string): number {
  try { return fs.statSync(path).size; } catch { return -1; }
}

function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(path, 'r');
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

export interface TreeStats { entries: number; files: number }

/** Writes files and their parent dirs, counting archive entries (every dir once, every file). */
class TreeWriter {
  readonly #root: string;
  readonly #dirs = new Set<string>();
  readonly stats: TreeStats = { entries: 0, files: 0 };

  constructor(root: string) { this.#root = root; }

  has(rel: string): boolean { return fs.existsSync(join(this.#root, rel)); }

  #mkdirs(rel: string): void {
    if (rel === '.' || rel === '' || this.#dirs.has(rel)) return;
    this.#mkdirs(dirname(rel));
    fs.mkdirSync(join(this.#root, rel));
    this.#dirs.add(rel);
    this.stats.entries++;
  }

  file(rel: string, content: Buffer, mode = 0o644): void {
    this.#mkdirs(dirname(rel));
    fs.writeFileSync(join(this.#root, rel), content, { mode, flag: 'wx' });
    fs.chmodSync(join(this.#root, rel), mode);
    this.stats.entries++;
    this.stats.files++;
  }

  symlink(rel: string, target: string): void {
    this.#mkdirs(dirname(rel));
    fs.symlinkSync(target, join(this.#root, rel));
    this.stats.entries++;
  }
}

/** Pseudo-words from syllables: names and text that look like a distro's, and compress like text. */
class TextSource {
  readonly #rng: Prng;
  readonly #words: string[];
  readonly #corpus: Buffer;

  constructor(seed: string) {
    this.#rng = new Prng(`${seed}/text`);
    const syl = ['ba', 'ko', 'ri', 'shi', 'fu', 'ne', 'ta', 'lo', 'mi', 'zu', 'po', 'ra', 'ki', 'de', 'so', 'ni', 'ga', 've', 'lu', 'xo'];
    this.#words = Array.from({ length: 2000 }, () => Array.from({ length: this.#rng.int(1, 4) }, () => this.#rng.pick(syl)).join(''));
    const lines: string[] = [];
    let size = 0;
    while (size < 4 << 20) {
      const n = this.#rng.int(3, 14);
      const line = `${Array.from({ length: n }, () => this.#rng.pick(this.#words)).join(' ')}\n`;
      lines.push(line);
      size += line.length;
    }
    this.#corpus = Buffer.from(lines.join(''), 'latin1');
  }

  word(): string { return this.#rng.pick(this.#words); }

  /** `n` bytes of text from a random place in the corpus. */
  text(n: number): Buffer {
    const at = this.#rng.int(0, this.#corpus.length - n - 1);
    return Buffer.from(this.#corpus.subarray(at, at + n));
  }
}

const MIXED_SMALL_FILES = 12_000;
const MIXED_LIBRARIES = 150;
const MIXED_LARGE = ['opt/app/data/assets.pak', 'usr/lib/jvm/lib/modules', 'usr/lib/locale/locale-archive', 'usr/share/fonts/noto/NotoSansCJK.ttc'];

/**
 * Writes the "mixed" tree (~200 MB: 4 large files, 150 libraries, 12,000 small files) under
 * `root`, which must exist and be empty.
 *
 * @example
 * writeMixedTree('/mnt/bench/base'); // { entries: ..., files: ... }
 */
export function writeMixedTree(root: string): TreeStats {
  const rng = new Prng(`mixed-${GENERATOR_VERSION}`);
  const text = new TextSource(`mixed-${GENERATOR_VERSION}`);
  const bytes = new ByteSource(`mixed-${GENERATOR_VERSION}/bytes`);
  const w = new TreeWriter(root);
  // Large files: 64 KiB blocks, 95% random (compressed media, packed assets), 5% zeros.
  for (const path of MIXED_LARGE) {
    const size = rng.int(33 << 20, 37 << 20);
    const parts: Buffer[] = [];
    for (let left = size; left > 0; left -= 65536) {
      const n = Math.min(left, 65536);
      parts.push(rng.next() < 0.95 ? bytes.take(n) : Buffer.alloc(n));
    }
    w.file(path, Buffer.concat(parts));
  }
  // Libraries: 4 KiB blocks of code-like random bytes, string tables and zero padding.
  for (let i = 0; i < MIXED_LIBRARIES; i++) {
    const name = `lib${text.word()}${i}`;
    const [maj, min, patch] = [rng.int(0, 9), rng.int(0, 30), rng.int(0, 9)];
    const size = rng.int(50 << 10, 500 << 10);
    const parts: Buffer[] = [];
    for (let left = size; left > 0; left -= 4096) {
      const n = Math.min(left, 4096);
      const r = rng.next();
      parts.push(r < 0.5 ? bytes.take(n) : r < 0.85 ? text.text(n) : Buffer.alloc(n));
    }
    const file = `${name}.so.${maj}.${min}.${patch}`;
    w.file(`usr/lib/x86_64-linux-gnu/${file}`, Buffer.concat(parts));
    w.symlink(`usr/lib/x86_64-linux-gnu/${name}.so.${maj}`, file);
  }
  // Small files in a distro-like tree, owned by ~300 packages.
  const pkgs = Array.from({ length: 300 }, (_, i) => `${text.word()}-${i}`);
  const langs = Array.from({ length: 40 }, (_, i) => `l${i.toString(36)}${text.word().slice(0, 2)}`);
  const places: ((pkg: string) => [string, number])[] = [
    (p) => [`usr/share/doc/${p}/${rng.pick(['copyright', 'changelog.Debian', 'README', 'NEWS', 'TODO', 'AUTHORS'])}`, 0o644],
    (p) => [`usr/share/locale/${rng.pick(langs)}/LC_MESSAGES/${p}.mo`, 0o644],
    (p) => [`usr/include/${p}/${text.word()}.h`, 0o644],
    (p) => [`usr/lib/python3/dist-packages/${p}/${text.word()}.py`, 0o644],
    (p) => [`usr/share/man/man${rng.pick(['1', '3', '5', '8'])}/${text.word()}.${rng.int(1, 8)}.gz`, 0o644],
    (p) => [`etc/${p}/${text.word()}.conf`, 0o644],
    (p) => [`usr/share/${p}/${text.word()}/${text.word()}.${rng.pick(['xml', 'json', 'txt', 'svg', 'css'])}`, 0o644],
    (p) => [`usr/bin/${p}-${text.word()}`, 0o755],
  ];
  for (let n = 0; n < MIXED_SMALL_FILES;) {
    const [path, mode] = rng.pick(places)(rng.pick(pkgs));
    if (w.has(path)) continue;
    w.file(path, text.text(rng.int(0, 4096)), mode);
    n++;
  }
  return w.stats;
}

function writeSmallTree(root: string, count: number): TreeStats {
  const rng = new Prng(`small-${GENERATOR_VERSION}`);
  const text = new TextSource(`small-${GENERATOR_VERSION}`);
  const w = new TreeWriter(root);
  const pkgs = Array.from({ length: 1200 }, (_, i) => (i % 5 === 0 ? `@${text.word()}/${text.word()}${i}` : `${text.word()}-${i}`));
  const subdirs = ['', '', 'lib', 'lib', 'dist', 'src', 'lib/internal', 'dist/esm', 'dist/cjs', 'test', 'types'];
  for (let n = 0; n < count;) {
    const pkg = rng.pick(pkgs);
    const sub = rng.pick(subdirs);
    const name = `${text.word()}${rng.pick(['.js', '.js', '.d.ts', '.json', '.md', '.map', '.cjs'])}`;
    const path = `node_modules/${pkg}/${sub === '' ? '' : `${sub}/`}${name}`;
    if (w.has(path)) continue;
    w.file(path, text.text(rng.int(0, 4096)));
    n++;
  }
  return w.stats;
}

/**
 * A one-file ustar archive in memory, for stores that need many tiny layers (list and mount
 * benchmarks): each layer has `layer.txt` (the same path in every layer, so the stack's order is
 * observable) and its own `l<index>`.
 */
export function tinyLayerTar(index: number): Buffer {
  const content = Buffer.from(`layer ${index}\n`);
  const blocks = [
    header('layer.txt', content.length), pad(content),
    header(`l${index}`, content.length), pad(content),
    Buffer.alloc(1024),
  ];
  return Buffer.concat(blocks);
}

function header(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write(`${MTIME.toString(8).padStart(11, '0')}\0`, 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}
