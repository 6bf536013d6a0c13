/**
 * Layers and the content store (root): a gzip or zstd archive is kept as a blob in the import's
 * one pass and exported byte for byte; a corrupt blob is refused (no -o file left); a failed or
 * killed import leaves no blob; `layer rm` takes an unshared blob along and keeps a shared one;
 * the same blob on the same parent is not unpacked again; `layer inspect --json` lists blobs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importSnapshotDir } from './helpers/import-snapshot.js';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGzip, gzipSync } from 'node:zlib';
import { main } from '../src/cli/main.js';
import type { Store } from '../src/store/store.js';
import type { Digest } from '../src/ids.js';
import { collect, startCli } from './helpers/cli.js';
import { fakeIo } from './helpers/fake-io.js';
import { TarBuilder, tarOf } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';
import { BigFileFeeder } from './fixtures/stream-producers.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

/** A layer tar with some compressible content, so that compression levels make a difference. */
function layerTar(tag: string): Buffer {
  return new TarBuilder()
    .dir('etc')
    .file('etc/os-release', `NAME=${tag}\n`)
    .file('usr/share/doc.txt', Buffer.from(`${tag} lorem ipsum dolor sit amet `.repeat(4000)))
    .file('usr/lib/data.bin', Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)))
    .build();
}

/** gzip -9 -n and zstd -19 (not the levels shibafu compresses with: a re-compression differs). */
function archives(ts: TempStore, tar: Buffer, name: string): { gz: string; zst: string } {
  const plain = ts.input(`${name}.tar`, tar);
  execFileSync('gzip', ['-9', '-n', '-k', '-f', plain]);
  execFileSync('zstd', ['-19', '-q', '-f', plain, '-o', `${plain}.zst`]);
  return { gz: `${plain}.gz`, zst: `${plain}.zst` };
}

async function exportBytes(store: Store, ref: string, compression: 'gzip' | 'zstd'): Promise<{ bytes: Buffer; source: string }> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  const result = await store.exportLayer(ref, { stream: out }, { compression });
  assert.equal(result.digest, sha(Buffer.concat(parts)));
  return { bytes: Buffer.concat(parts), source: result.source };
}

const blobFiles = (ts: TempStore): string[] => readdirSync(join(ts.root, 'blobs', 'sha256')).sort();
const blobPath = (ts: TempStore, digest: string): string => join(ts.root, 'blobs', 'sha256', digest.slice('sha256:'.length));

describe('compressed archives are kept as blobs', { skip: needsRoot }, () => {
  test('gzip -9 and zstd -19 layers export byte for byte (sha256 of the export = sha256 of the input)', async () => {
    const ts = makeTempStore();
    const tar = layerTar('a');
    const { gz, zst } = archives(ts, tar, 'a');
    const gzBytes = readFileSync(gz);
    const zstBytes = readFileSync(zst);
    // The test can fail: shibafu's own compression of this tar is other bytes.
    assert.notEqual(sha(gzipSync(tar)), sha(gzBytes));

    const first = await ts.store.createLayer({ name: 'gz', source: gz });
    assert.equal(first.existed, false);
    // The same tar as zstd is the same layer (same diffId): it gains its zstd blob.
    const second = await ts.store.createLayer({ name: 'zst', source: zst });
    assert.equal(second.existed, true);
    assert.equal(second.layer.chainId, first.layer.chainId);
    assert.deepEqual(blobFiles(ts), [sha(gzBytes).slice(7), sha(zstBytes).slice(7)].sort());

    const g = await exportBytes(ts.store, 'gz', 'gzip');
    assert.equal(g.source, 'blob');
    assert.equal(sha(g.bytes), sha(gzBytes));
    const z = await exportBytes(ts.store, 'gz', 'zstd');
    assert.equal(sha(z.bytes), sha(zstBytes));

    // To a file through the CLI, with --json.
    const dest = join(ts.inputs, 'out.tar.gz');
    ts.store.close();
    const cli = fakeIo({ tty: false });
    assert.equal(await main(['--root', ts.root, 'layer', 'export', 'gz', '--compression', 'gzip', '-o', dest, '--json'], cli.io), 0, cli.err());
    assert.equal(sha(readFileSync(dest)), sha(gzBytes));
    const json = JSON.parse(cli.out().toString()) as { digest: string; source: string; mediaType: string; size: number };
    assert.deepEqual([json.digest, json.source, json.mediaType, json.size], [sha(gzBytes), 'blob', GZIP, gzBytes.length]);
  });

  test('layer inspect lists the blobs (--json and human); the plain tar keeps no second copy', async () => {
    const ts = makeTempStore();
    const tar = layerTar('b');
    const { gz, zst } = archives(ts, tar, 'b');
    await ts.store.createLayer({ name: 'b', source: gz });
    await ts.store.createLayer({ name: 'b2', source: zst });
    await ts.store.createLayer({ name: 'plain', source: ts.input('plain.tar', layerTar('plain')) });
    ts.store.close();
    const cli = fakeIo({ tty: false });
    assert.equal(await main(['--root', ts.root, 'layer', 'inspect', 'b', '--json'], cli.io), 0, cli.err());
    const d = JSON.parse(cli.out().toString()) as { blobs: unknown; blob: unknown; diffId: string };
    const gzBytes = readFileSync(gz);
    const zstBytes = readFileSync(zst);
    assert.deepEqual(d.blobs, [
      { digest: sha(gzBytes), size: gzBytes.length, mediaType: GZIP, compression: 'gzip' },
      { digest: sha(zstBytes), size: zstBytes.length, mediaType: ZSTD, compression: 'zstd' },
    ]);
    // The import record of the first archive is still there.
    assert.deepEqual(d.blob, { digest: sha(gzBytes), size: gzBytes.length, mediaType: GZIP });
    assert.equal(d.diffId, sha(tar));

    const human = fakeIo({ tty: false });
    assert.equal(await main(['--root', ts.root, 'layer', 'inspect', 'b'], human.io), 0);
    assert.match(human.out().toString(), new RegExp(`^Blobs:    ${sha(gzBytes)} \\(gzip, .*, ${GZIP.replace(/[+.]/g, '\\$&')}\\)\\n {10}${sha(zstBytes)} \\(zstd, `, 'm'));

    const plain = fakeIo({ tty: false });
    assert.equal(await main(['--root', ts.root, 'layer', 'inspect', 'plain', '--json'], plain.io), 0);
    assert.deepEqual((JSON.parse(plain.out().toString()) as { blobs: unknown }).blobs, []);
    assert.deepEqual(blobFiles(ts), [sha(gzBytes).slice(7), sha(zstBytes).slice(7)].sort());
  });

  test('a corrupt blob is refused: export fails with DIGEST_MISMATCH, no -o file, nothing on stdout', async () => {
    const ts = makeTempStore();
    const { gz } = archives(ts, layerTar('c'), 'c');
    await ts.store.createLayer({ name: 'c', source: gz });
    const file = blobPath(ts, sha(readFileSync(gz)));
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0x40;
    writeFileSync(file, bytes);
    ts.store.close();

    const dest = join(ts.inputs, 'exported.tar.gz');
    const cli = fakeIo({ tty: false });
    assert.equal(await main(['--root', ts.root, 'layer', 'export', 'c', '--compression', 'gzip', '-o', dest], cli.io), 5);
    assert.match(cli.err(), /^error\[DIGEST_MISMATCH\]: Cannot read blob sha256:[0-9a-f]{64}: its file changed on disk/);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(readdirSync(ts.inputs).filter((n) => n.includes('shibafu')), [], 'no temporary file left');

    const toStdout = fakeIo({ tty: false });
    assert.equal(await main(['--root', ts.root, 'layer', 'export', 'c', '--compression', 'gzip'], toStdout.io), 5);
    assert.match(toStdout.err(), /^error\[DIGEST_MISMATCH\]/);
    assert.equal(toStdout.out().length, 0);
  });
});

describe('imports that fail leave no blob', { skip: needsRoot }, () => {
  test('a gzip archive refused midway (PATH_UNSAFE): no blob file, no row, tmp/ empty', async () => {
    const ts = makeTempStore();
    const hostile = gzipSync(tarOf((t) => t.file('ok', Buffer.alloc(100_000, 1)).file('../escape', 'x')));
    await assert.rejects(ts.store.createLayer({ name: 'bad', source: ts.input('bad.tar.gz', hostile) }), { code: 'PATH_UNSAFE' });
    assert.deepEqual(blobFiles(ts), []);
    assert.deepEqual([...(await ts.store.content()).walk()], []);
    assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
  });

  test('an import whose archive is not the expected digest: DIGEST_MISMATCH, nothing stored', async () => {
    const ts = makeTempStore();
    const { gz } = archives(ts, layerTar('d'), 'd');
    await assert.rejects(ts.store.createLayer({ name: 'd', source: gz, expectedDigest: sha(Buffer.from('other')) }), { code: 'DIGEST_MISMATCH' });
    assert.deepEqual(blobFiles(ts), []);
    assert.deepEqual(ts.store.listLayers(), []);
  });

  test('SIGKILL mid-import of a gzip stream: after the sweep, no blob file or row, tmp/ and ingests empty', async () => {
    const ts = makeTempStore();
    ts.store.close();
    let feeder: BigFileFeeder | undefined;
    const child = startCli(['--root', ts.root, 'layer', 'create', 'big', '-'], {
      stdin: (c) => {
        const gz = createGzip({ level: 1 });
        gz.pipe(c.stdin!);
        feeder = new BigFileFeeder(gz, 300 * MiB);
        void feeder.start();
      },
    });
    const done = collect(child);
    let staged: string | undefined;
    while (staged === undefined) {
      if (child.exitCode !== null) throw new Error(`the CLI exited (${child.exitCode}) before the import got under way`);
      for (const name of readdirSync(join(ts.root, 'tmp'))) {
        try {
          const dir = importSnapshotDir(ts.root, name.slice(name.lastIndexOf('-') + 1));
          if (dir !== undefined && statSync(join(dir, 'big')).size >= 16 * MiB && statSync(join(ts.root, 'tmp', name, 'blob')).size > 0) {
            staged = name;
          }
        } catch {
          // Not there yet.
        }
      }
      await sleep(20);
    }
    child.kill('SIGKILL');
    feeder?.stop();
    assert.equal((await done).signal, 'SIGKILL');
    const store = ts.reopen();
    assert.deepEqual(store.swept.map((s) => s.kind), ['import']);
    assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
    assert.deepEqual(blobFiles(ts), []);
    assert.deepEqual(readdirSync(join(ts.root, 'blobs', 'ingest')), []);
    assert.deepEqual([...(await store.content()).walk()], []);
    assert.deepEqual(store.listLayers(), []);
  });
});

describe('blobs and layer rm, skip-unpack', { skip: needsRoot }, () => {
  test('layer rm removes a blob no other layer has, and keeps a shared one until its last layer goes', async () => {
    const ts = makeTempStore();
    await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', tarOf((t) => t.file('base', 'base'))) });
    const { gz, zst } = archives(ts, layerTar('e'), 'e');
    const gzDigest = sha(readFileSync(gz));
    const zstDigest = sha(readFileSync(zst));
    await ts.store.createLayer({ name: 'root', source: gz });
    await ts.store.createLayer({ name: 'on-base', source: gz, parent: 'base' });
    await ts.store.createLayer({ name: 'on-base-zst', source: zst, parent: 'base' });
    assert.equal(ts.store.inspectLayer('on-base-zst').chainId, ts.store.inspectLayer('on-base').chainId);
    assert.deepEqual(blobFiles(ts), [gzDigest.slice(7), zstDigest.slice(7)].sort());

    ts.store.removeLayer('root');
    assert.deepEqual(blobFiles(ts), [gzDigest.slice(7), zstDigest.slice(7)].sort(), 'the gzip blob is shared with on-base');
    ts.store.removeLayer('on-base-zst'); // only a name of the layer: untagged
    ts.store.removeLayer('on-base');
    assert.deepEqual(blobFiles(ts), []);
    const content = await ts.store.content();
    assert.deepEqual([...content.walk()], []);
    assert.deepEqual(readdirSync(join(ts.root, 'blobs', 'trash')), []);
  });

  test('the same blob on the same parent is not unpacked again; on another parent it is', async () => {
    const ts = makeTempStore();
    await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', tarOf((t) => t.file('base', 'base'))) });
    const { gz } = archives(ts, layerTar('f'), 'f');
    const digest = sha(readFileSync(gz));
    const first = await ts.store.createLayer({ name: 'one', source: gz, parent: 'base' });

    let progress = 0;
    const again = await ts.store.createLayer({ name: 'two', source: gz, parent: 'base', onProgress: () => { progress++; } });
    assert.equal(again.existed, true);
    assert.equal(again.layer.chainId, first.layer.chainId);
    assert.deepEqual(again.layer.names, ['one', 'two']);
    assert.equal(progress, 0, 'the archive was hashed, not unpacked');

    // A caller that knows the digest: the source is not read at all.
    const unreadable = new Readable({ read() { this.destroy(new Error('the source was read')); } });
    const pulled = await ts.store.createLayer({ name: 'three', source: unreadable, parent: 'base', expectedDigest: digest });
    assert.equal(pulled.existed, true);
    assert.equal(pulled.layer.chainId, first.layer.chainId);

    // Another parent: another layer, unpacked; the blob is shared.
    let unpacked = 0;
    const root = await ts.store.createLayer({ name: 'root', source: gz, onProgress: () => { unpacked++; } });
    assert.equal(root.existed, false);
    assert.ok(unpacked > 0);
    assert.notEqual(root.layer.chainId, first.layer.chainId);
    assert.deepEqual(blobFiles(ts), [digest.slice(7)]);
  });
});
