/**
 * `image load` and `image save` against the real tools: images built by buildah and written by
 * skopeo and podman in every layout and compression (test/fixtures/oci-images.ts) load to the
 * same image ID, and their merged rootfs is, file by file, what `umoci unpack` makes of the same
 * image; `image save` output is read back by skopeo, umoci and podman with the same digests. Bad
 * archives are refused with their codes, the store as it was. Real kernel, as root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { assertStoreEmpty, rootfsView, sha256, storeCli, withImageRootfs } from './helpers/image-rootfs.js';
import { makeTempStore, type TempStore } from './helpers/temp-store.js';
import { APP_NAME, APP_OUTPUT, BASE_NAME, buildImageFixtures, imageToolsMissing, type ImageFixtures } from './fixtures/oci-images.js';

const skip = imageToolsMissing();
interface Loaded { id: string; digest: string; names: string[]; existed: boolean; platform: string }

const cli = storeCli;

async function load(ts: TempStore, src: string, ...extra: string[]): Promise<Loaded[]> {
  const r = await cli(ts, 'image', 'load', src, '--json', ...extra);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Loaded[];
}


describe('image load and save with the real tools', { skip }, () => {
  const work = makeTempStore({ open: false });
  let fx: ImageFixtures;
  /** `umoci unpack` of the app image: the reference rootfs. */
  let reference: Record<string, string>;
  let appId: string;

  before(() => {
    fx = buildImageFixtures(join(work.base, 'fixtures'));
    const bundle = join(work.base, 'umoci-bundle');
    execFileSync('umoci', ['unpack', '--image', `${fx.appGzipDir}:1`, bundle], { stdio: 'ignore' });
    reference = rootfsView(join(bundle, 'rootfs'));
    appId = sha256(execFileSync('skopeo', ['inspect', '--raw', '--config', `oci-archive:${fx.appOciArchive}`]));
  });
  after(() => fs.rmSync(join(work.base, 'fixtures'), { recursive: true, force: true }));

  const sources: [string, () => string][] = [
    ['buildah oci-archive (plain layers)', () => fx.appOciArchive],
    ['skopeo docker-archive (legacy layer.tar links)', () => fx.appDockerArchive],
    ['skopeo OCI layout, gzip layers', () => fx.appGzipDir],
    ['skopeo OCI layout, zstd layers', () => fx.appZstdDir],
    ['podman save docker-archive', () => fx.podmanDocker],
    ['podman save oci-archive', () => fx.podmanOci],
  ];
  for (const [label, src] of sources) {
    test(`${label}: the same image ID, its name, a rootfs file for file as umoci unpacks it`, async () => {
      const ts = makeTempStore({ open: false });
      const [loaded, ...more] = await load(ts, src());
      assert.equal(more.length, 0);
      assert.equal(loaded?.id, appId);
      assert.equal(loaded?.platform, 'linux/amd64');
      // A skopeo oci: layout names its image by tag alone ("1"): loaded without a name.
      if (!label.startsWith('skopeo OCI')) assert.deepEqual(loaded?.names, [APP_NAME]);
      assert.deepEqual(await withImageRootfs(ts, loaded!.id, rootfsView), reference);
      // Loading it again changes nothing.
      const again = await load(ts, src());
      assert.equal(again[0]?.existed, true);
      assert.equal(JSON.parse((await cli(ts, 'image', 'ls', '--json')).stdout).length, 1);
    });
  }

  test('a gzip-compressed docker-archive loads as the plain one', async () => {
    const ts = makeTempStore({ open: false });
    const gz = join(ts.inputs, 'app.tar.gz');
    fs.writeFileSync(gz, gzipSync(fs.readFileSync(fx.appDockerArchive)));
    // Not on a terminal: one progress line per layer on stderr, when it is done; the result on stdout.
    const r = await cli(ts, 'image', 'load', gz);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Loaded image ${APP_NAME} \\(${appId.slice(7, 19)}, linux/amd64, [0-9.]+ [KM]iB\\)\n$`));
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 2, r.stderr);
    for (const [i, l] of lines.entries()) assert.match(l, new RegExp(`^${APP_NAME} layer ${i + 1}/2 [0-9a-f]{12}: verified, unpacked$`));
    const [loaded] = await load(ts, gz);
    assert.equal(loaded?.id, appId);
    assert.equal(loaded?.existed, true);
    assert.deepEqual(fs.readdirSync(join(ts.root, 'tmp')), [], 'the unpacked archive is not left behind');
  });

  test('save after load: the same digests, read back by skopeo, umoci and podman', async () => {
    const ts = makeTempStore({ open: false });
    const [fromOci] = await load(ts, fx.appZstdDir, '--tag', 'zstd-app:1');
    const manifestOfSource = sha256(fs.readFileSync(join(fx.appZstdDir, 'blobs/sha256', (JSON.parse(fs.readFileSync(join(fx.appZstdDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest.slice(7))));
    assert.equal(fromOci?.digest, manifestOfSource);
    // oci-archive: the manifest and its zstd blobs exactly as they came.
    const archive = join(ts.inputs, 'saved.tar');
    assert.equal((await cli(ts, 'image', 'save', 'zstd-app:1', '-o', archive)).status, 0);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${archive}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
    assert.equal(inspected.Digest, manifestOfSource);
    const sourceLayers = (JSON.parse(execFileSync('skopeo', ['inspect', `oci:${fx.appZstdDir}:1`], { encoding: 'utf8' })) as { Layers: string[] }).Layers;
    assert.deepEqual(inspected.Layers, sourceLayers);
    // oci-dir: umoci unpacks it to the reference tree (Debian's umoci reads gzip layers, not zstd).
    await load(ts, fx.appGzipDir, '--tag', 'gzip-app:1');
    const dir = join(ts.inputs, 'saved-dir');
    assert.equal((await cli(ts, 'save', 'gzip-app:1', '--format', 'oci-dir', '-o', dir)).status, 0);
    const bundle = join(ts.base, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${dir}:1`, bundle], { stdio: 'ignore' });
    assert.deepEqual(rootfsView(join(bundle, 'rootfs')), reference);
    // docker-archive: podman loads it under its name, with the same image ID.
    const docker = join(ts.inputs, 'saved-docker.tar');
    assert.equal((await cli(ts, 'image', 'save', 'zstd-app:1', '--format', 'docker-archive', '-o', docker)).status, 0);
    assert.match(fx.podman(['load', '-i', docker]), /Loaded image.*zstd-app:1/);
    assert.equal(`sha256:${fx.podman(['image', 'inspect', '--format', '{{.Id}}', 'docker.io/library/zstd-app:1'])}`, appId);
    // A docker-archive saved after a docker-archive load: the same config and layer digests.
    const ts2 = makeTempStore({ open: false });
    await load(ts2, docker);
    const again = join(ts2.inputs, 'again.tar');
    assert.equal((await cli(ts2, 'save', 'docker.io/library/zstd-app:1', '--format', 'docker-archive', '-o', again)).status, 0);
    const a = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${docker}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
    const b = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${again}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
    assert.deepEqual([b.Digest, b.Layers], [a.Digest, a.Layers]);
    // Saving over an existing path is refused, and nothing is written.
    const exists = await cli(ts, 'image', 'save', 'zstd-app:1', '-o', archive);
    assert.equal(exists.status, 2);
    assert.deepEqual(fs.readdirSync(ts.inputs).filter((n) => n.includes('partial')), []);
  });

  test('podman save -m: both images with their names; --ref picks one', async () => {
    const ts = makeTempStore({ open: false });
    const loaded = await load(ts, fx.podmanMulti);
    assert.deepEqual(loaded.map((l) => l.names).sort(), [[APP_NAME], [BASE_NAME]]);
    // The app's bottom layer is the base image's layer: stored once.
    assert.equal(JSON.parse((await cli(ts, 'layer', 'list', '--json')).stdout).length, 2);
    const ts2 = makeTempStore({ open: false });
    const one = await load(ts2, fx.podmanMulti, '--ref', 'localhost/shibafu-test/base:1');
    assert.deepEqual(one.map((l) => l.names), [[BASE_NAME]]);
    const none = await cli(ts2, 'image', 'load', fx.podmanMulti, '--ref', 'nothing:here');
    assert.equal(none.status, 3);
    assert.match(none.stderr, /^error\[IMAGE_NOT_FOUND\]: Cannot load "nothing:here"/);
  });

  test('a multi-platform index: this host by default, --platform picks another, an absent one is refused', async () => {
    const ts = makeTempStore({ open: false });
    const [amd] = await load(ts, fx.multiArch);
    assert.equal(amd?.platform, 'linux/amd64');
    const [arm] = await load(ts, fx.multiArch, '--platform', 'linux/arm64');
    assert.equal(arm?.platform, 'linux/arm64/v8');
    const inspect = JSON.parse((await cli(ts, 'image', 'inspect', arm!.id, '--json')).stdout) as { config: { cmd: string[] }; index: string | null };
    assert.deepEqual(inspect.config.cmd, ['/bin/busybox', 'echo', 'arm64']);
    assert.match(inspect.index ?? '', /^sha256:[0-9a-f]{64}$/);
    const ts2 = makeTempStore({ open: false });
    const r = await cli(ts2, 'image', 'load', fx.multiArch, '--platform', 'linux/s390x');
    assert.equal(r.status, 3);
    assert.match(r.stderr, /^error\[PLATFORM_NOT_FOUND\]: .*linux\/s390x \(it has linux\/arm64\/v8, linux\/amd64\)/);
    await assertStoreEmpty(ts2);
  });

  test('image ls, tag, untag, history, rm: names move, layers go with the last image that used them', async () => {
    const ts = makeTempStore({ open: false });
    await load(ts, fx.podmanMulti);
    assert.equal((await cli(ts, 'tag', APP_NAME, 'tools/app:latest')).status, 0);
    const ls = await cli(ts, 'images');
    assert.match(ls.stdout, /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE +PLATFORM\n/);
    assert.match(ls.stdout, /\ndocker\.io\/tools\/app +latest +[0-9a-f]{12} /);
    const history = JSON.parse((await cli(ts, 'image', 'history', APP_NAME, '--json')).stdout) as { layer: unknown }[];
    assert.equal(history.filter((h) => h.layer !== null).length, 2);
    // A layer of an image cannot be removed on its own.
    const top = (JSON.parse((await cli(ts, 'image', 'inspect', APP_NAME, '--json')).stdout) as { rootfs: { chainId: string }[] }).rootfs.at(-1)!.chainId;
    const layerRm = await cli(ts, 'layer', 'rm', top);
    assert.equal(layerRm.status, 4);
    assert.match(layerRm.stderr, /^error\[LAYER_IN_USE\]: .* image/);
    // rm of one of two names only untags.
    const untag = await cli(ts, 'rmi', 'tools/app');
    assert.equal(untag.status, 0, untag.stderr);
    assert.equal(untag.stdout, 'Untagged: docker.io/tools/app:latest\n');
    // The app goes with its own layer; the base layer stays for the base image.
    const rm = await cli(ts, 'image', 'rm', APP_NAME);
    assert.equal(rm.status, 0, rm.stderr);
    assert.match(rm.stdout, new RegExp(`^Untagged: ${APP_NAME}\nDeleted: ${appId}\n$`));
    assert.equal(JSON.parse((await cli(ts, 'layer', 'list', '--json')).stdout).length, 1);
    const missing = await cli(ts, 'image', 'rm', APP_NAME, BASE_NAME);
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, /^error\[IMAGE_NOT_FOUND\]/);
    await assertStoreEmpty(ts);
  });

  test('run IMAGE: its Entrypoint, Cmd, Env, WorkingDir and User; overrides; image rm waits for its containers', async () => {
    const ts = makeTempStore({ open: false });
    await load(ts, fx.appOciArchive);
    const r = await cli(ts, 'run', '--rm', APP_NAME);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, APP_OUTPUT);
    // CMD replaces Cmd, under the same Entrypoint; -e, -w and -u replace the image's.
    const over = await cli(ts, 'run', '--rm', '-e', 'GREETING=bye', '-w', '/tmp', '-u', '0', APP_NAME, 'echo $GREETING from $(pwd) as $(id -u)');
    assert.equal(over.stdout, 'bye from /tmp as 0\n', over.stderr);
    // --entrypoint drops the image's Cmd; the image's Env stays.
    const entry = await cli(ts, 'run', '--rm', '--entrypoint', '["/bin/sh","-c","echo $GREETING"]', APP_NAME);
    assert.equal(entry.stdout, 'hello\n', entry.stderr);
    // An unknown user is refused by name, before anything runs.
    const nobody = await cli(ts, 'run', '--rm', '-u', 'nobody', APP_NAME);
    assert.equal(nobody.status, 125);
    assert.match(nobody.stderr, /^error\[USAGE\]: Cannot run as user "nobody"/);
    // image mount: the merged rootfs, read-only.
    const mnt = join(ts.base, 'mnt');
    fs.mkdirSync(mnt);
    assert.equal((await cli(ts, 'image', 'mount', APP_NAME, mnt)).status, 0);
    assert.equal(fs.readFileSync(join(mnt, 'app/hello'), 'utf8'), 'hi there\n');
    assert.equal(fs.existsSync(join(mnt, 'etc/motd')), false);
    assert.throws(() => fs.writeFileSync(join(mnt, 'x'), 'x'), { code: 'EROFS' });
    assert.equal((await cli(ts, 'image', 'umount', mnt)).status, 0);
    assert.equal((await cli(ts, 'image', 'umount', mnt)).status, 3);
    // A container of the image pins it.
    assert.equal((await cli(ts, 'container', 'create', '--name', 'c1', APP_NAME)).status, 0);
    const rm = await cli(ts, 'rmi', APP_NAME);
    assert.equal(rm.status, 4);
    assert.match(rm.stderr, /^error\[IMAGE_IN_USE\]: Cannot remove image .*: 1 container uses it \(c1\)\nhint: Remove the container first: shibafu container rm c1\n$/);
    assert.equal((await cli(ts, 'container', 'rm', 'c1')).status, 0);
    assert.equal((await cli(ts, 'rmi', APP_NAME)).status, 0);
    await assertStoreEmpty(ts);
  });

  test('bad archives: refused with their codes, the store as it was', async () => {
    const ts = makeTempStore({ open: false });
    const edit = (name: string, change: (dir: string) => void): string => {
      const dir = join(ts.inputs, `${name}-dir`);
      fs.mkdirSync(dir);
      execFileSync('tar', ['-xf', fx.appDockerArchive, '-C', dir]);
      change(dir);
      const out = join(ts.inputs, `${name}.tar`);
      execFileSync('tar', ['-cf', out, '-C', dir, '.']);
      return out;
    };
    const manifestOf = (dir: string): { Config: string; Layers: string[] }[] => JSON.parse(fs.readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const cases: [string, string, number, RegExp][] = [
      ['no manifest.json', edit('nomanifest', (d) => { fs.rmSync(join(d, 'manifest.json')); fs.rmSync(join(d, 'repositories'), { force: true }); }), 5, /^error\[ARCHIVE_INVALID\]/],
      ['a layer it names is missing', edit('missing', (d) => { const m = manifestOf(d); m[0]!.Layers[1] = 'nope.tar'; fs.writeFileSync(join(d, 'manifest.json'), JSON.stringify(m)); }), 5, /^error\[ARCHIVE_INVALID\]: .*"nope\.tar"/],
      ['a path out of the archive', edit('escape', (d) => { const m = manifestOf(d); m[0]!.Config = '../../../etc/passwd'; fs.writeFileSync(join(d, 'manifest.json'), JSON.stringify(m)); }), 5, /^error\[ARCHIVE_INVALID\]: .*leads out of the archive/],
      ['a layer whose bytes are not its diffId', edit('lies', (d) => {
        const m = manifestOf(d);
        fs.copyFileSync(join(d, m[0]!.Layers[0]!), join(d, 'copy.tar'));
        fs.rmSync(join(d, m[0]!.Layers[1]!));
        fs.copyFileSync(join(d, 'copy.tar'), join(d, m[0]!.Layers[1]!));
        fs.rmSync(join(d, 'copy.tar'));
      }), 5, /^error\[(DIGEST_MISMATCH|MANIFEST_INVALID)\]/m],
      ['not an archive at all', (() => { const p = join(ts.inputs, 'random.bin'); fs.writeFileSync(p, Buffer.alloc(4096, 7)); return p; })(), 5, /^error\[ARCHIVE_INVALID\]/],
    ];
    for (const [label, src, status, error] of cases) {
      const r = await cli(ts, 'image', 'load', src);
      assert.equal(r.status, status, `${label}: ${r.stderr}`);
      assert.match(r.stderr, error, label);
      await assertStoreEmpty(ts);
    }
    // An image archive given to `layer create` names `image load`.
    const layer = await cli(ts, 'layer', 'create', 'x', fx.podmanDocker);
    assert.equal(layer.status, 5);
    assert.match(layer.stderr, /^error\[IMAGE_ARCHIVE\]: .*\nhint: Load it as an image: shibafu image load ARCHIVE\n$/);
    await assertStoreEmpty(ts);
  });
});
