/**
 * OCI image-spec layer.md edge cases turned into overlay's on-disk format, and content
 * addressing: diffId, blob digest and chainId computed independently here with node:crypto,
 * and the same content on the same parent stored once. Real kernel, as root.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { LayerDetails } from '../src/store/layer-views.js';
import { lgetxattr } from '../src/sys/xattr.js';
import { gzip } from './fixtures/compress.js';
import { runCli } from './helpers/cli.js';
import { FIXTURE_MTIME as T0, tarOf } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';

const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const sha256 = (b: Buffer | string): string => `sha256:${sha256hex(b)}`;

function isWhiteout(path: string): boolean {
  const st = lstatSync(path);
  return st.isCharacterDevice() && st.rdev === 0 && (st.mode & 0o7777) === 0;
}

function opaque(path: string): string | null {
  return lgetxattr(path, 'trusted.overlay.opaque')?.toString() ?? null;
}

describe('OCI changeset edge cases', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  let diff: string;
  let tar: Buffer;

  before(async () => {
    // What the whiteouts below hide: a whiteout is made only where a lower layer shows its path.
    const lower = tarOf((t) => t.file('ghost', 'g').file('nested/deeper/ghost', 'g').file('twin', 't')
      .file('e/old', 'old').file('h/old', 'old').file('f', 'lower f').file('g', 'lower g'));
    await ts.store.createLayer({ name: 'lower', source: ts.input('lower.tar', lower) });
    tar = tarOf((t) => {
      // A whiteout of a file of a lower layer, at the root and deeper.
      t.whiteout('ghost');
      t.whiteout('nested/deeper/ghost');
      // The opaque marker after the directory's children: the children stay.
      t.dir('after', { mode: 0o755 }).file('after/a', 'a').file('after/sub/b', 'b').opaque('after');
      // The opaque marker before them.
      t.opaque('first').file('first/c', 'c');
      // A file and its whiteout in one archive, both orders: the file stays.
      t.file('f', 'file then whiteout').whiteout('f');
      t.whiteout('g').file('g', 'whiteout then file');
      // A directory and its whiteout: the directory stays and hides the lower one (opaque).
      t.dir('e', { mode: 0o755 }).file('e/kept', 'kept').whiteout('e');
      t.whiteout('h').file('h/x', 'x');
      // A directory listed twice: the second entry's attributes win.
      t.dir('twice', { mode: 0o755, uid: 0, gid: 0, mtime: T0 });
      t.file('twice/child', 'child');
      t.dir('twice', { mode: 0o700, uid: 1000, gid: 1001, mtime: T0 - 50, pax: [['SCHILY.xattr.user.second', '2']] });
      // Implicit parents, GNU-style "./" prefixes and doubled slashes.
      t.file('./x/y//z/file', 'deep');
      // aufs bookkeeping Docker once exported: skipped, never part of the layer.
      t.dir('.wh..wh.plnk', { mode: 0o700 });
      t.file('.wh..wh.plnk/1234.5678', 'aufs hardlink target');
      // The same whiteout twice is harmless.
      t.whiteout('twin').whiteout('twin');
    });
    const { layer } = await ts.store.createLayer({ name: 'edge', source: ts.input('edge.tar', tar), parent: 'lower' });
    diff = layer.path;
  });

  test('a whiteout of a file a lower layer has is a 0/0 device, mode 0', () => {
    assert.ok(isWhiteout(join(diff, 'ghost')));
    assert.ok(isWhiteout(join(diff, 'nested/deeper/ghost')));
    assert.ok(isWhiteout(join(diff, 'twin')));
  });

  test('an opaque marker after its children: children stay, the dir is opaque', () => {
    assert.equal(opaque(join(diff, 'after')), 'y');
    assert.equal(readFileSync(join(diff, 'after/a'), 'utf8'), 'a');
    assert.equal(readFileSync(join(diff, 'after/sub/b'), 'utf8'), 'b');
    assert.equal(opaque(join(diff, 'after/sub')), null, 'opacity does not spread to subdirectories');
    assert.equal(opaque(join(diff, 'first')), 'y');
    assert.deepEqual(readdirSync(join(diff, 'first')), ['c']);
  });

  test('a file and its whiteout in one archive, in either order: the file stays', () => {
    assert.ok(lstatSync(join(diff, 'f')).isFile());
    assert.equal(readFileSync(join(diff, 'f'), 'utf8'), 'file then whiteout');
    assert.ok(lstatSync(join(diff, 'g')).isFile());
    assert.equal(readFileSync(join(diff, 'g'), 'utf8'), 'whiteout then file');
  });

  test('a directory and its whiteout: the directory stays, opaque over the lower one', () => {
    assert.ok(lstatSync(join(diff, 'e')).isDirectory());
    assert.deepEqual(readdirSync(join(diff, 'e')), ['kept']);
    assert.equal(opaque(join(diff, 'e')), 'y');
    assert.ok(lstatSync(join(diff, 'h')).isDirectory());
    assert.equal(readFileSync(join(diff, 'h/x'), 'utf8'), 'x');
    assert.equal(opaque(join(diff, 'h')), 'y');
  });

  test('a directory listed twice takes the attributes of the last entry', () => {
    const st = lstatSync(join(diff, 'twice'));
    assert.equal(st.mode & 0o7777, 0o700);
    assert.equal(`${st.uid}:${st.gid}`, '1000:1001');
    assert.equal(st.mtimeMs, (T0 - 50) * 1000);
    assert.equal(lgetxattr(join(diff, 'twice'), 'user.second')?.toString(), '2');
    assert.deepEqual(readdirSync(join(diff, 'twice')), ['child']);
  });

  test('implicit parent directories, "./" and "//" normalized', () => {
    for (const d of ['x', 'x/y', 'x/y/z', 'nested', 'nested/deeper']) {
      const st = lstatSync(join(diff, d));
      assert.ok(st.isDirectory(), d);
      assert.equal(st.mode & 0o7777, 0o755, d);
      assert.equal(`${st.uid}:${st.gid}`, '0:0', d);
    }
    assert.equal(readFileSync(join(diff, 'x/y/z/file'), 'utf8'), 'deep');
  });

  test('the layer holds exactly these names at its root (aufs metadata skipped, no .wh. files)', () => {
    assert.deepEqual(readdirSync(diff).sort(), ['after', 'e', 'f', 'first', 'g', 'ghost', 'h', 'nested', 'twice', 'twin', 'x']);
  });

  test('the same archive as a root layer: its whiteouts hide nothing, none is made, and no implied parent for them', async () => {
    const { layer } = await ts.store.createLayer({ name: 'edge-root', source: ts.input('edge-root.tar', tar) });
    assert.deepEqual(readdirSync(layer.path).sort(), ['after', 'e', 'f', 'first', 'g', 'h', 'twice', 'x']);
    // A directory and a whiteout of it: nothing below to hide, so not opaque either.
    assert.equal(opaque(join(layer.path, 'e')), null);
    assert.equal(opaque(join(layer.path, 'h')), null);
    assert.equal(readFileSync(join(layer.path, 'g'), 'utf8'), 'whiteout then file');
  });
});

describe('content addressing: diffId, blob digest, chainId, dedup', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  const baseTar = tarOf((t) => t.dir('etc').file('etc/os-release', 'ID=shibafu\n'));
  const appTar = tarOf((t) => t.file('app', 'app v1\n', { mode: 0o755 }));
  const otherTar = tarOf((t) => t.file('other', 'other\n'));
  let base: LayerDetails;
  let app: LayerDetails;

  before(async () => {
    base = (await ts.store.createLayer({ name: 'base', source: ts.input('base.tar.gz', gzip(baseTar)) })).layer;
  });

  test('diffId = sha256 of the uncompressed tar; blob digest = sha256 of the file as given', () => {
    const gz = readFileSync(join(ts.inputs, 'base.tar.gz'));
    assert.equal(base.diffId, sha256(baseTar));
    assert.deepEqual(base.blob, { digest: sha256(gz), size: gz.length, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    assert.notEqual(base.blob?.digest, base.diffId);
    assert.equal(base.chainId, base.diffId);
    assert.equal(base.size, baseTar.length);
    assert.ok(lstatSync(join(base.path, 'etc/os-release')).isFile());
    assert.equal(base.path, ts.store.context.snapshots.changeset(sha256(baseTar)).dir);
  });

  test('chainId of a child = sha256(parentChainId + " " + diffId), and of a grandchild', async () => {
    app = (await ts.store.createLayer({ name: 'app', source: ts.input('app.tar', appTar), parent: 'base' })).layer;
    const expected = sha256(`${sha256(baseTar)} ${sha256(appTar)}`);
    assert.equal(app.diffId, sha256(appTar));
    assert.equal(app.chainId, expected);
    assert.equal(app.parent, base.chainId);
    assert.deepEqual(app.parentNames, ['base']);
    assert.equal(app.depth, 2);
    assert.equal(app.path, ts.store.context.snapshots.changeset(expected).dir);
    const grand = (await ts.store.createLayer({ name: 'grand', source: ts.input('other.tar', otherTar), parent: 'app' })).layer;
    assert.equal(grand.chainId, sha256(`${expected} ${sha256(otherTar)}`));
    assert.equal(grand.depth, 3);
    assert.deepEqual(ts.store.inspectLayer('base').children, [{ chainId: app.chainId, names: ['app'] }]);
  });

  test('the same content on the same parent twice: existed, one layer with two names', async () => {
    const before = ts.store.listLayers().length;
    const dirsBefore = readdirSync(join(ts.root, 'layers')).length;
    const again = await ts.store.createLayer({ name: 'app-again', source: ts.input('app-copy.tar', appTar), parent: 'base' });
    assert.equal(again.existed, true);
    assert.equal(again.layer.chainId, app.chainId);
    assert.deepEqual(again.layer.names.sort(), ['app', 'app-again']);
    assert.equal(ts.store.listLayers().length, before);
    assert.equal(readdirSync(join(ts.root, 'layers')).length, dirsBefore);
    assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
  });

  test('the same content compressed differently is still the same layer (the diffId decides)', async () => {
    const again = await ts.store.createLayer({ name: 'app-gz', source: ts.input('app.tar.gz', gzip(appTar)), parent: 'base' });
    assert.equal(again.existed, true);
    assert.equal(again.layer.chainId, app.chainId);
  });

  test('the same content on a different parent (or none): separate layers', async () => {
    const onOther = await ts.store.createLayer({ name: 'app-on-grand', source: ts.input('app2.tar', appTar), parent: 'grand' });
    assert.equal(onOther.existed, false);
    assert.equal(onOther.layer.diffId, app.diffId);
    assert.notEqual(onOther.layer.chainId, app.chainId);
    const asRoot = await ts.store.createLayer({ name: 'app-root', source: ts.input('app3.tar', appTar) });
    assert.equal(asRoot.existed, false);
    assert.equal(asRoot.layer.chainId, sha256(appTar));
    const chainIds = new Set(ts.store.listLayers().map((l) => l.chainId));
    assert.equal(chainIds.size, 5);
    assert.equal(readdirSync(join(ts.root, 'layers')).length, 5);
  });

  test('the CLI says an existing layer was named, and --json reports existed', async () => {
    const path = ts.input('app4.tar', appTar);
    const text = await runCli(['--root', ts.root, 'layer', 'create', 'app-cli', path, '--parent', 'base']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^layer ${app.chainId!.slice(7, 19)} already stored with the same content on the same parent; named it "app-cli"\\n`));
    const json = await runCli(['--root', ts.root, 'layer', 'create', 'app-json', path, '--parent', 'base', '--json']);
    assert.equal(json.status, 0, json.stderr);
    const out = JSON.parse(json.stdout) as LayerDetails & { existed: boolean };
    assert.equal(out.existed, true);
    assert.equal(out.chainId, app.chainId);
    assert.deepEqual(out.names.sort(), ['app', 'app-again', 'app-cli', 'app-gz', 'app-json']);
  });
});
