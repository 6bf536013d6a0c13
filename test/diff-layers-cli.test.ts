/**
 * `layer diff`, `layer diff-create` and `layer apply` through the CLI and the library (root): the
 * output forms, ApplyDiffLayer's identities (same diffId, the OCI chainId on the new base, the
 * same export bytes), and its refusal of a layer whose files changed on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../src/cli/main.js';
import type { CliIo } from '../src/cli/io.js';
import { chainIdOf, type ChainId, type DiffId } from '../src/ids.js';
import type { Store } from '../src/store/store.js';
import { TarBuilder } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';
import { tamperWith } from './helpers/test-driver.js';

function io(): { io: CliIo; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d: Buffer) => { o += d.toString(); });
  stderr.on('data', (d: Buffer) => { e += d.toString(); });
  return { io: { stdout, stderr, stdin: new PassThrough(), env: {}, cwd: '/', signal: new AbortController().signal }, out: () => o, err: () => e };
}

async function cli(ts: TempStore, ...args: string[]): Promise<{ status: number; out: string; err: string }> {
  const f = io();
  const status = await main(['--root', ts.root, ...args], f.io);
  return { status, out: f.out(), err: f.err() };
}

async function exportOf(store: Store, ref: string): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  await store.exportLayer(ref, { stream: out });
  return Buffer.concat(parts);
}

async function setup(): Promise<TempStore> {
  const ts = makeTempStore();
  const mtime = 1_650_000_000;
  await ts.store.createLayer({ name: 'v1', source: ts.input('v1.tar', new TarBuilder()
    .dir('etc', { mtime }).file('etc/conf', 'a=1\n', { mtime }).file('etc/old', Buffer.alloc(300), { mtime }).dir('app', { mtime }).file('app/main', 'v1', { mtime }).build()) });
  await ts.store.createLayer({ name: 'v2', source: ts.input('v2.tar', new TarBuilder()
    .dir('etc', { mtime }).file('etc/conf', 'a=2\n', { mtime }).dir('app', { mtime: mtime + 1 }).file('app/main', 'v1', { mtime }).file('app/new', 'new!', { mtime }).build()) });
  await ts.store.createLayer({ name: 'patch', parent: 'v1', source: ts.input('patch.tar', new TarBuilder().file('etc/patched', 'yes\n').whiteout('etc/old').build()) });
  ts.store.close();
  return ts;
}

test('layer diff: podman-like lines with sizes, and --json', { skip: needsRoot }, async () => {
  const ts = await setup();
  const human = await cli(ts, 'layer', 'diff', 'v1', 'v2');
  assert.equal(human.status, 0, human.err);
  assert.equal(human.out, [
    'C /app',
    'A /app/new   +4 B',
    'C /etc',
    'C /etc/conf  4 B -> 4 B',
    'D /etc/old   -300 B',
    '',
  ].join('\n'));
  const json = await cli(ts, 'layer', 'diff', 'v1', 'v2', '--json');
  assert.deepEqual(JSON.parse(json.out)[1], { path: '/app/new', kind: 'A', oldType: null, newType: 'file', oldSize: null, newSize: 4 });
  assert.equal((await cli(ts, 'layer', 'diff', 'v2', 'v2')).out, '');
});

test('layer diff-create: the new layer sits on FROM and A + it has no diff to TO', { skip: needsRoot }, async () => {
  const ts = await setup();
  const made = await cli(ts, 'layer', 'diff-create', 'v1-to-v2', '--from', 'v1', '--to', 'v2');
  assert.equal(made.status, 0, made.err);
  assert.match(made.out, /^created diff \(5 changes\) layer "v1-to-v2" [0-9a-f]{12} \(on v1\): /);
  assert.equal((await cli(ts, 'layer', 'diff', 'v1-to-v2', 'v2')).out, '');
  const usage = await cli(ts, 'layer', 'diff-create', 'x', '--from', 'v1');
  assert.equal(usage.status, 2);
  assert.match(usage.err, /^error\[USAGE\]: Cannot create a diff layer without --from and --to/);
});

test('layer apply: same diffId, the OCI chainId on the new base, the same export bytes', { skip: needsRoot }, async () => {
  const ts = await setup();
  const r = await cli(ts, 'layer', 'apply', 'patch', '--onto', 'v2', 'patch-on-v2', '--json');
  assert.equal(r.status, 0, r.err);
  const made = JSON.parse(r.out) as { chainId: ChainId; diffId: DiffId; parent: ChainId };
  const store = ts.reopen();
  const patch = store.inspectLayer('patch');
  const v2 = store.inspectLayer('v2');
  assert.equal(made.diffId, patch.diffId);
  assert.equal(made.parent, v2.chainId);
  assert.equal(made.chainId, chainIdOf(v2.chainId, patch.diffId!));
  const bytes = await exportOf(store, 'patch-on-v2');
  assert.ok(bytes.equals(await exportOf(store, 'patch')), 'the tar-split record came along');
  assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, patch.diffId);
  // On v2, the patch's whiteout hides nothing (v2 has no etc/old) and etc/patched is added.
  assert.deepEqual((await store.diffLayers(['v2'], ['patch-on-v2'])).map((c) => `${c.kind} ${c.path}`), ['C /etc', 'A /etc/patched']);
});

test('layer apply refuses a layer whose files changed on disk, leaving nothing behind', { skip: needsRoot }, async () => {
  const ts = await setup();
  const store = ts.reopen();
  const path = store.inspectLayer('patch').path;
  tamperWith(path, () => writeFileSync(join(path, 'etc/patched'), readFileSync(join(path, 'etc/patched')).toString().toUpperCase()));
  const before = store.listLayers().length;
  await assert.rejects(store.applyLayer({ diff: 'patch', onto: 'v2', name: 'bad' }), { code: 'DIGEST_MISMATCH' });
  assert.equal(store.listLayers().length, before);
  assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
});
