/**
 * `layer export` (root): the same bytes every time, hashing to the diffId, for a layer imported
 * from a tar (replayed from its tar-split record, byte for byte the original) and for sealed and
 * committed layers (the deterministic packer); gzip and zstd of the same tar; tampering detected
 * with no file left; export + `layer create` on another store gives the same chainIds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { main } from '../src/cli/main.js';
import type { Store } from '../src/store/store.js';
import { TarBuilder } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';
import { tamperWith } from './helpers/test-driver.js';
import { fakeIo } from './helpers/fake-io.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An archive as another tool writes it: names in uname, PAX times, a long name, a hard link. */
function foreignTar(): Buffer {
  return new TarBuilder()
    .dir('etc', { uname: 'root', gname: 'root' })
    .file('etc/os-release', 'NAME=test\n', { uname: 'root', pax: [['mtime', '1650000000.123456789']] })
    .file(`usr/${'long-name-'.repeat(12)}`, Buffer.alloc(70_000, 7))
    .hardlink('usr/again', `usr/${'long-name-'.repeat(12)}`)
    .symlink('bin', 'usr/bin')
    .whiteout('var/old')
    .build();
}

async function exportBytes(store: Store, ref: string, compression: 'none' | 'gzip' | 'zstd' = 'none'): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  const result = await store.exportLayer(ref, { stream: out }, { compression });
  assert.equal(result.size, Buffer.concat(parts).length);
  assert.equal(result.digest, sha(Buffer.concat(parts)));
  return Buffer.concat(parts);
}

async function layers(ts: TempStore): Promise<void> {
  await ts.store.createLayer({ name: 'imported', source: ts.input('foreign.tar', foreignTar()) });
  await ts.store.createLayer({ name: 'open', parent: 'imported' });
  writeFileSync(join(ts.inputs, 'app.py'), 'print("hi")\n');
  await ts.store.addToLayer('open', join(ts.inputs, 'app.py'), '/app/app.py');
  await ts.store.sealLayer('open');
}

test('an imported layer exports as the original archive, byte for byte, every time', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  await layers(ts);
  const one = await exportBytes(ts.store, 'imported');
  const two = await exportBytes(ts.store, 'imported');
  assert.ok(one.equals(two));
  assert.ok(one.equals(foreignTar()), 'the tar-split replay reproduces the imported archive');
  assert.equal(sha(one), ts.store.inspectLayer('imported').diffId);
});

test('a sealed layer exports deterministically through the packer; sha256 = diffId', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  await layers(ts);
  const one = await exportBytes(ts.store, 'open');
  assert.ok(one.equals(await exportBytes(ts.store, 'open')));
  assert.equal(sha(one), ts.store.inspectLayer('open').diffId);
});

test('gzip and zstd exports are deterministic and decompress to the plain tar', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  await layers(ts);
  for (const ref of ['imported', 'open']) {
    const plain = await exportBytes(ts.store, ref);
    const gz = await exportBytes(ts.store, ref, 'gzip');
    assert.ok(gz.equals(await exportBytes(ts.store, ref, 'gzip')));
    assert.ok(gunzipSync(gz).equals(plain));
    const zst = await exportBytes(ts.store, ref, 'zstd');
    assert.ok(zst.equals(await exportBytes(ts.store, ref, 'zstd')));
    assert.ok(execFileSync('zstd', ['-d', '-c', '-q'], { input: zst, maxBuffer: 1 << 26 }).equals(plain));
  }
});

test('export, then `layer create` on another store: the same chainIds for a chain of 2 layers', { skip: needsRoot }, async () => {
  const a = makeTempStore();
  await layers(a);
  const b = makeTempStore();
  for (const [ref, compression] of [['imported', 'zstd'], ['open', 'gzip']] as const) {
    const file = join(b.inputs, `${ref}.tar`);
    await a.store.exportLayer(ref, { file }, { compression });
    await b.store.createLayer({ name: ref, source: file, ...(ref === 'open' ? { parent: 'imported' } : {}) });
  }
  for (const ref of ['imported', 'open']) {
    assert.equal(b.store.inspectLayer(ref).chainId, a.store.inspectLayer(ref).chainId);
    assert.equal(b.store.inspectLayer(ref).diffId, a.store.inspectLayer(ref).diffId);
  }
});

test('a file changed in the diff dir: DIGEST_MISMATCH, and no output file is left', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  await layers(ts);
  const out = join(ts.inputs, 'out.tar');
  for (const ref of ['imported', 'open']) {
    const path = ts.store.inspectLayer(ref).path;
    const victim = ref === 'imported' ? join(path, 'etc/os-release') : join(path, 'app/app.py');
    const original = readFileSync(victim);
    // Same size, other bytes: only the digest at the end can tell.
    tamperWith(path, () => writeFileSync(victim, Buffer.from(original.toString().toUpperCase())));
    await assert.rejects(ts.store.exportLayer(ref, { file: out }), { code: 'DIGEST_MISMATCH' });
    assert.deepEqual(readdirSync(ts.inputs).filter((n) => n.includes('out.tar')), [], 'no file and no temp file');
    // Another size: caught at that file already (tar-split) or by the digest (packer).
    tamperWith(path, () => writeFileSync(victim, Buffer.concat([original, Buffer.from('more')])));
    await assert.rejects(ts.store.exportLayer(ref, { file: out }), { code: 'DIGEST_MISMATCH' });
    assert.equal(existsSync(out), false);
  }
});

test('a missing tar-split record is STORE_CORRUPT, not a crash', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  await layers(ts);
  const layout = ts.store.context.layout;
  unlinkSync(layout.tarSplitIn(layout.layerDir(ts.store.resolve('imported').chainId!)));
  await assert.rejects(exportBytes(ts.store, 'imported'), { code: 'STORE_CORRUPT', message: /tar-split record/ });
});

test('the CLI writes the archive to stdout, refuses a terminal, and reports a file export', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  await layers(ts);
  ts.store.close();
  const pipe = fakeIo({ tty: false });
  assert.equal(await main(['--root', ts.root, 'layer', 'export', 'imported'], pipe.io), 0);
  assert.ok(pipe.out().equals(foreignTar()));
  const tty = fakeIo({ tty: true });
  assert.equal(await main(['--root', ts.root, 'layer', 'export', 'imported'], tty.io), 2);
  assert.match(tty.err(), /^error\[USAGE\]: Cannot write a layer archive to a terminal\nhint: /);
  const file = fakeIo({ tty: true });
  const target = join(ts.inputs, 'x.tar.gz');
  assert.equal(await main(['--root', ts.root, 'layer', 'export', 'open', '-o', target, '--compression', 'gzip', '--json'], file.io), 0);
  const json = JSON.parse(file.out().toString()) as { diffId: string; digest: string; file: string };
  assert.equal(json.diffId, sha(gunzipSync(readFileSync(target))));
  assert.equal(json.digest, sha(readFileSync(target)));
});
