import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSource, sniffCompression } from './layer-source.js';
import { skippableFrame, zstd, zstdChunked } from '../../test/fixtures/compress.js';

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;
const LIMITS = { maxBytes: 1 << 30 };

function tempFile(bytes: Buffer): { path: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(join(tmpdir(), 'shibafu-source-'));
  const path = join(dir, 'archive');
  fs.writeFileSync(path, bytes);
  return { path, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

test('a plain file read through reused buffers: every chunk as it comes, and the digest, match the file', async () => {
  // Not a multiple of the 1 MiB read size, so the last chunk is short.
  const bytes = randomBytes(5 * (1 << 20) + 12345);
  const { path, cleanup } = tempFile(bytes);
  try {
    const opened = openSource(path, LIMITS);
    const seen = createHash('sha256');
    let offset = 0;
    for await (const chunk of opened.chunks) {
      // Compared as it comes: a reused buffer is only valid until the next chunk is asked for.
      assert.ok(chunk.equals(bytes.subarray(offset, offset + chunk.length)), `chunk at ${offset}`);
      seen.update(chunk);
      offset += chunk.length;
    }
    assert.equal(offset, bytes.length);
    const want = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    assert.equal(`sha256:${seen.digest('hex')}`, want);
    assert.deepEqual(opened.result(), { compression: 'none', blobDigest: want, blobSize: bytes.length, diffId: want, tarSize: bytes.length });
  } finally {
    cleanup();
  }
});

test('an import that stops early or fails closes the archive file', async () => {
  const { path, cleanup } = tempFile(randomBytes(3 << 20));
  const xz = tempFile(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3]));
  try {
    const before = openFds();
    for await (const chunk of openSource(path, LIMITS).chunks) {
      assert.ok(chunk.length > 0);
      break;
    }
    await assert.rejects(async () => {
      for await (const chunk of openSource(path, { maxBytes: 1 << 20 }).chunks) assert.ok(chunk.length > 0);
    }, { code: 'LIMIT_EXCEEDED' });
    await assert.rejects(async () => {
      for await (const chunk of openSource(xz.path, LIMITS).chunks) assert.ok(chunk.length > 0);
    }, { code: 'COMPRESSION_UNSUPPORTED' });
    // fs.close is asynchronous: let it run.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(openFds(), before);
  } finally {
    cleanup();
    xz.cleanup();
  }
});

test('a zstd stream may start with a skippable frame (magic 0x184D2A50..5F), as zstd:chunked ones do', () => {
  const magic = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeUInt32LE(n, 0); return b; };
  assert.equal(sniffCompression(magic(0xfd2fb528)), 'zstd');
  for (let v = 0; v < 16; v++) assert.equal(sniffCompression(magic(0x184d2a50 + v)), 'zstd', `variant ${v}`);
  assert.equal(sniffCompression(magic(0x184d2a60)), 'none');
  assert.equal(sniffCompression(magic(0x184d2a4f)), 'none');
  assert.equal(sniffCompression(Buffer.from([0x50, 0x2a, 0x4d])), 'none');
});

test('the zstd tool passes over skippable frames before, between and after data frames', async () => {
  const tar = randomBytes(300_000);
  for (const archive of [zstdChunked(tar), Buffer.concat([zstd(tar), skippableFrame(3, Buffer.alloc(0))]), Buffer.concat([skippableFrame(9, Buffer.from('x')), zstd(tar)])]) {
    const { path, cleanup } = tempFile(archive);
    try {
      const opened = openSource(path, LIMITS);
      const parts: Buffer[] = [];
      for await (const chunk of opened.chunks) parts.push(Buffer.from(chunk));
      assert.ok(Buffer.concat(parts).equals(tar));
      const r = opened.result();
      assert.equal(r.compression, 'zstd');
      assert.equal(r.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
      assert.equal(r.blobDigest, `sha256:${createHash('sha256').update(archive).digest('hex')}`);
    } finally {
      cleanup();
    }
  }
});
