import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync, lutimesSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isShibafuError } from '../errors.js';
import { packLayer, packLayerSync } from './tar-packer.js';
import type { XattrReader } from './tar-packer.js';
import { TarParser } from './tar-parser.js';
import type { TarEntry } from './tar-entry.js';

/** Xattrs kept in memory, keyed by absolute path: enough to exercise the conversion without root. */
function fakeXattrs(table: Record<string, Record<string, string>>): XattrReader {
  return {
    list: (p) => Object.keys(table[p] ?? {}),
    get: (p, n) => (table[p]?.[n] === undefined ? null : Buffer.from(table[p]![n]!)),
  };
}
const NONE = fakeXattrs({});

function tmpTree(): string {
  return mkdtempSync(join(tmpdir(), 'shibafu-pack-'));
}

function parseAll(tar: Buffer): Array<TarEntry & { data: string }> {
  const out: Array<TarEntry & { data: string }> = [];
  let data: Buffer[] = [];
  const p = new TarParser({
    onEntry: (e) => out.push({ ...e, data: '' }),
    onData: (c) => data.push(Buffer.from(c)),
    onEntryEnd: () => {
      out[out.length - 1]!.data = Buffer.concat(data).toString('latin1');
      data = [];
    },
  });
  p.write(tar);
  p.end();
  return out;
}

function pack(dir: string, xattrs = NONE, chunkSize?: number): Buffer {
  return Buffer.concat([...packLayerSync(dir, { xattrs, chunkSize })]);
}

const T = 1_600_000_000;

function buildTree(dir: string): void {
  mkdirSync(join(dir, 'etc/ssl'), { recursive: true });
  writeFileSync(join(dir, 'etc/hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(dir, 'etc/ssl/cert.pem'), 'x'.repeat(3000));
  chmodSync(join(dir, 'etc/ssl/cert.pem'), 0o4750);
  linkSync(join(dir, 'etc/hosts'), join(dir, 'hosts.hard'));
  symlinkSync('etc/hosts', join(dir, 'hosts.sym'));
  const long = join(dir, 'L'.repeat(60), 'M'.repeat(60));
  mkdirSync(long, { recursive: true });
  writeFileSync(join(long, 'file'), 'deep');
  symlinkSync('/' + 't'.repeat(150), join(dir, 'longlink'));
  writeFileSync(join(dir, 'gone'), ''); // becomes a whiteout through the fake xattr
  for (const p of ['etc/hosts', 'etc/ssl/cert.pem', 'etc/ssl', 'etc', 'L'.repeat(60), 'gone']) utimesSync(join(dir, p), T, T + 0.999999);
  for (const p of ['hosts.sym', 'longlink']) lutimesSync(join(dir, p), T, T);
  utimesSync(join(long, 'file'), T, T);
  utimesSync(long, T, T);
}

test('a tree packs into the documented entry sequence', () => {
  const dir = tmpTree();
  try {
    buildTree(dir);
    const xattrs = fakeXattrs({
      [join(dir, 'etc')]: { 'user.z': '1', 'trusted.overlay.opaque': 'y', 'user.a': '2', 'user.overlay.redirect': 'no' },
      [join(dir, 'gone')]: { 'trusted.overlay.whiteout': '' },
    });
    const entries = parseAll(pack(dir, xattrs));
    const L = 'L'.repeat(60);
    const M = 'M'.repeat(60);
    assert.deepEqual(entries.map((e) => [e.type, e.path, e.linkpath, e.mode.toString(8), e.size, e.mtime.sec]), [
      ['dir', `${L}/`, '', '755', 0, T],
      ['dir', `${L}/${M}/`, '', '755', 0, T],
      ['file', `${L}/${M}/file`, '', '644', 4, T],
      ['dir', 'etc/', '', '755', 0, T],
      ['file', 'etc/.wh..wh..opq', '', '0', 0, T],
      ['file', 'etc/hosts', '', '644', 20, T],
      ['dir', 'etc/ssl/', '', '755', 0, T],
      ['file', 'etc/ssl/cert.pem', '', '4750', 3000, T],
      ['file', '.wh.gone', '', '0', 0, T],
      ['link', 'hosts.hard', 'etc/hosts', '644', 0, T],
      ['symlink', 'hosts.sym', 'etc/hosts', '777', 0, T],
      ['symlink', 'longlink', '/' + 't'.repeat(150), '777', 0, T],
    ]);
    const etc = entries[3]!;
    assert.deepEqual([...etc.xattrs], [['user.a', Buffer.from('2')], ['user.z', Buffer.from('1')]]);
    assert.equal(entries[5]!.data, '127.0.0.1 localhost\n');
    assert.ok(entries.every((e) => e.uname === '' && e.gname === '' && e.mtime.nsec === 0 && e.atime === undefined));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('packing is deterministic and independent of the chunk size', () => {
  const dir = tmpTree();
  try {
    buildTree(dir);
    const a = pack(dir);
    const b = pack(dir);
    const c = pack(dir, NONE, 4096);
    const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
    assert.equal(sha(a), sha(b));
    assert.equal(sha(a), sha(c));
    assert.equal(a.length % 512, 0);
    assert.deepEqual(a.subarray(a.length - 1024), Buffer.alloc(1024));
    const sizes = [...packLayerSync(dir, { xattrs: NONE, chunkSize: 4096 })].map((x) => x.length);
    assert.ok(sizes.slice(0, -1).every((n) => n === 4096), 'all chunks but the last are full');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('headers are normalized ustar with no prefix field', () => {
  const dir = tmpTree();
  try {
    buildTree(dir);
    const tar = pack(dir);
    for (let at = 0; at < tar.length - 1024; ) {
      const h = tar.subarray(at, at + 512);
      assert.equal(h.toString('latin1', 257, 265), 'ustar\x0000');
      assert.ok(h.subarray(345, 500).every((b) => b === 0), `prefix empty at ${at}`);
      assert.ok(h.subarray(265, 329).every((b) => b === 0), `uname/gname empty at ${at}`);
      const size = parseInt(h.toString('latin1', 124, 135), 8);
      at += 512 + Math.ceil(size / 512) * 512;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('children sort by UTF-8 bytes, not by JS string order', () => {
  const dir = tmpTree();
  try {
    const names = ['\u{1F600}', '\uFFFD', 'é', 'a', 'B', 'a.b', 'a-b'];
    for (const n of names) writeFileSync(join(dir, n), n);
    const got = parseAll(pack(dir)).map((e) => e.path);
    const want = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual(got, want);
    assert.deepEqual(want, ['B', 'a', 'a-b', 'a.b', 'é', '\uFFFD', '\u{1F600}']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an empty layer is two zero blocks', () => {
  const dir = tmpTree();
  try {
    assert.deepEqual(pack(dir), Buffer.alloc(1024));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file named .wh.* cannot be represented and is refused', () => {
  const dir = tmpTree();
  try {
    writeFileSync(join(dir, '.wh.x'), '');
    assert.throws(() => pack(dir), (e) => isShibafuError(e, 'TAR_UNSUPPORTED') && e.message.includes('".wh.x"'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('large files stream in bounded chunks; stats and progress add up', async () => {
  const dir = tmpTree();
  try {
    const big = Buffer.alloc(5 * 1024 * 1024 + 3, 0x41);
    writeFileSync(join(dir, 'big'), big);
    let progress = 0;
    const gen = packLayer(dir, { xattrs: NONE, onProgress: () => progress++ });
    const chunks: Buffer[] = [];
    let next = await gen.next();
    while (next.done !== true) {
      assert.ok(next.value.length <= 1024 * 1024);
      chunks.push(next.value);
      next = await gen.next();
    }
    const tar = Buffer.concat(chunks);
    assert.deepEqual(next.value, { entries: 1, bytes: tar.length });
    assert.equal(progress, chunks.length);
    assert.equal(tar.length, 512 + big.length + 509 + 1024);
    assert.equal(parseAll(tar)[0]!.data.length, big.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a consumer that stops early leaves no file descriptor open', async () => {
  const dir = tmpTree();
  try {
    writeFileSync(join(dir, 'big'), Buffer.alloc(3 * 1024 * 1024));
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    for await (const chunk of packLayer(dir, { xattrs: NONE })) {
      assert.ok(chunk.length > 0);
      assert.equal(fds(), before + 2, 'the layer root and the file are open while it is read');
      break;
    }
    assert.equal(fds(), before);
    for (const chunk of packLayerSync(dir, { xattrs: NONE })) {
      assert.ok(chunk.length > 0);
      break;
    }
    assert.equal(fds(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an aborted signal stops the pack', async () => {
  const dir = tmpTree();
  try {
    writeFileSync(join(dir, 'big'), Buffer.alloc(3 * 1024 * 1024));
    const ac = new AbortController();
    const seen: Buffer[] = [];
    await assert.rejects(async () => {
      for await (const chunk of packLayer(dir, { xattrs: NONE, signal: ac.signal })) {
        seen.push(chunk);
        ac.abort();
      }
    }, { name: 'AbortError' });
    assert.equal(seen.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory swapped for a symlink between the walk and the open: LAYER_TAMPERED, nothing read outside', () => {
  const base = tmpTree();
  try {
    const dir = join(base, 'layer');
    const outside = join(base, 'outside');
    mkdirSync(join(dir, 'app'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(dir, 'app/secret'), 'inside-bytes');
    writeFileSync(join(outside, 'secret'), 'SECRET-BYTES');
    // The packer reads a file's xattrs after its lstat and before its open: the race window.
    const racing: XattrReader = {
      list: (p) => {
        if (p === join(dir, 'app/secret')) {
          renameSync(join(dir, 'app'), join(dir, 'app.moved'));
          symlinkSync(outside, join(dir, 'app'));
        }
        return [];
      },
      get: () => null,
    };
    const seen: Buffer[] = [];
    assert.throws(() => {
      for (const chunk of packLayerSync(dir, { xattrs: racing })) seen.push(chunk);
    }, (err) => isShibafuError(err, 'LAYER_TAMPERED') && /"\/app\/secret"/.test(err.message));
    assert.equal(Buffer.concat(seen).includes('SECRET-BYTES'), false);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
