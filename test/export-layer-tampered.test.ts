/**
 * `layer export` of a layer changed behind shibafu's back (root, real files): a directory of the
 * diff dir swapped for a symlink to outside never makes export read the outside file
 * (LAYER_TAMPERED, openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and a tampered layer exported
 * to a stream fails before the first byte (the verify pass), with a non-zero exit from the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../src/cli/main.js';
import { TarBuilder } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';
import { fakeIo } from './helpers/fake-io.js';

const SECRET = 'SECRET-OUTSIDE-THE-LAYER';
const INSIDE = 'inside-the-layer-xxxxxxxx'; // the same length as SECRET: only content differs

async function importedLayer(ts: TempStore): Promise<string> {
  const tar = new TarBuilder().dir('etc').file('etc/os-release', INSIDE).file('etc/z', 'z').build();
  await ts.store.createLayer({ name: 'imported', source: ts.input('l.tar', tar) });
  return ts.store.inspectLayer('imported').path;
}

/** Replaces `dir` (inside a layer) with a symlink to a new directory outside holding `name`. */
function plantSymlinkedDir(ts: TempStore, dir: string, name: string): void {
  const outside = join(ts.base, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, name), SECRET);
  renameSync(dir, `${dir}.moved`);
  symlinkSync(outside, dir);
}

function collect(): { stream: PassThrough; bytes: () => Buffer } {
  const stream = new PassThrough();
  const parts: Buffer[] = [];
  stream.on('data', (b: Buffer) => parts.push(b));
  return { stream, bytes: () => Buffer.concat(parts) };
}

test('a directory swapped for a symlink to outside: LAYER_TAMPERED, the outside file never read', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  const diff = await importedLayer(ts);
  plantSymlinkedDir(ts, join(diff, 'etc'), 'os-release');
  const out = collect();
  await assert.rejects(ts.store.exportLayer('imported', { stream: out.stream }), (err: Error & { code?: string; details?: { path?: string } }) => {
    assert.equal(err.code, 'LAYER_TAMPERED');
    assert.match(err.message, /"\/etc\/os-release" crosses a symlink/);
    assert.equal(err.details?.path, '/etc/os-release');
    return true;
  });
  assert.equal(out.bytes().length, 0, 'nothing written to the stream');
  assert.equal(out.bytes().includes(SECRET), false);
  const file = join(ts.inputs, 'out.tar');
  await assert.rejects(ts.store.exportLayer('imported', { file }), { code: 'LAYER_TAMPERED' });
  // The CLI: exit 5, the path named, no byte on stdout.
  ts.store.close();
  const cli = fakeIo({ tty: false });
  assert.equal(await main(['--root', ts.root, 'layer', 'export', 'imported'], cli.io), 5);
  assert.match(cli.err(), /^error\[LAYER_TAMPERED\]: .*"\/etc\/os-release"/);
  assert.equal(cli.out().length, 0);
});

test('a tampered layer exported to stdout: exit 5 and not one byte written (verified first)', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  const diff = await importedLayer(ts);
  // Same size, other bytes: before, the archive streamed out whole and only its end failed.
  writeFileSync(join(diff, 'etc/os-release'), INSIDE.toUpperCase());
  ts.store.close();
  const cli = fakeIo({ tty: false });
  assert.equal(await main(['--root', ts.root, 'layer', 'export', 'imported'], cli.io), 5);
  assert.match(cli.err(), /^error\[DIGEST_MISMATCH\]: Cannot export layer: its files no longer match its diffId/);
  assert.equal(cli.out().length, 0);
  // A sealed (packer) layer as well.
  const ts2 = makeTempStore();
  await ts2.store.createLayer({ name: 'open' });
  writeFileSync(join(ts2.inputs, 'f'), 'hello\n');
  await ts2.store.addToLayer('open', join(ts2.inputs, 'f'), '/f');
  await ts2.store.sealLayer('open');
  writeFileSync(join(ts2.store.inspectLayer('open').path, 'f'), 'HELLO\n');
  ts2.store.close();
  const cli2 = fakeIo({ tty: false });
  assert.equal(await main(['--root', ts2.root, 'layer', 'export', 'open', '--compression', 'gzip'], cli2.io), 5);
  assert.match(cli2.err(), /^error\[DIGEST_MISMATCH\]/);
  assert.equal(cli2.out().length, 0);
});

test('a file changed between the verify pass and the write: the error says the bytes written are invalid', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  const diff = await importedLayer(ts);
  const out = collect();
  let changed = false;
  const onProgress = (_bytes: number, phase: 'verify' | 'write'): void => {
    // The first write chunk holds the headers only; the file's content is read after it.
    if (phase === 'write' && !changed) {
      changed = true;
      writeFileSync(join(diff, 'etc/os-release'), INSIDE.toUpperCase());
    }
  };
  await assert.rejects(ts.store.exportLayer('imported', { stream: out.stream }, { onProgress }), (err: Error & { code?: string; details?: { bytesWritten?: number } }) => {
    assert.equal(err.code, 'DIGEST_MISMATCH');
    assert.match(err.message, /the \d+ bytes already written are not a valid layer archive: discard them$/);
    assert.equal(err.details?.bytesWritten, out.bytes().length);
    return true;
  });
  assert.equal(readFileSync(join(diff, 'etc/os-release'), 'utf8'), INSIDE.toUpperCase());
});
