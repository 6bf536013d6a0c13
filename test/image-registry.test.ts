/**
 * `image pull` and `image push` against a real registry (Debian's docker-registry on 127.0.0.1,
 * started here): images pushed by skopeo (OCI and Docker v2s2 manifests, an index of two
 * platforms) pull to the same IDs and digests and to the rootfs umoci makes of them; a push then
 * `skopeo copy` back gives the same digests, and a push to another repository mounts its blobs;
 * a connection cut mid-blob is resumed with Range; a pull killed mid-blob keeps its bytes and the
 * next one resumes there; a tampered blob and a 401 are refused with the store as it was.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { collect, startCli } from './helpers/cli.js';
import { assertStoreEmpty, rootfsView, sha256, storeCli, withImageRootfs } from './helpers/image-rootfs.js';
import { makeTempStore, type TempStore } from './helpers/temp-store.js';
import { registryMissing, skopeo, startRegistry, type TestRegistry } from './helpers/registry.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { APP_OUTPUT, buildImageFixtures, imageToolsMissing, type ImageFixtures } from './fixtures/oci-images.js';

const skip = imageToolsMissing() || registryMissing();
interface Pulled { id: string; digest: string; names: string[]; existed: boolean; platform: string }

const cli = storeCli;

async function pull(ts: TempStore, ref: string, ...extra: string[]): Promise<Pulled[]> {
  const r = await cli(ts, 'pull', '--tls-verify=false', '--json', ref, ...extra);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Pulled[];
}

const rootfsOf = (ts: TempStore, image: string): Promise<Record<string, string>> => withImageRootfs(ts, image, rootfsView);

describe('image pull and push against docker-registry', { skip }, () => {
  const work = makeTempStore({ open: false });
  let fx: ImageFixtures;
  let reg: TestRegistry;
  let reference: Record<string, string>;
  let appId: string;

  before(async () => {
    fx = buildImageFixtures(join(work.base, 'fixtures'));
    reg = await startRegistry();
    const bundle = join(work.base, 'umoci-bundle');
    execFileSync('umoci', ['unpack', '--image', `${fx.appGzipDir}:1`, bundle], { stdio: 'ignore' });
    reference = rootfsView(join(bundle, 'rootfs'));
    appId = sha256(execFileSync('skopeo', ['inspect', '--raw', '--config', `oci-archive:${fx.appOciArchive}`]));
    // Pushed by skopeo: an OCI manifest with gzip layers, a Docker v2s2 one, an index of two platforms.
    await skopeo(['copy', '-q', '--dest-tls-verify=false', '--dest-compress', `oci:${fx.appGzipDir}:1`, `docker://${reg.host}/skopeo/app:oci`]);
    await skopeo(['copy', '-q', '--dest-tls-verify=false', '--format', 'v2s2', `oci-archive:${fx.appOciArchive}`, `docker://${reg.host}/skopeo/app:v2s2`]);
    await skopeo(['copy', '-q', '--all', '--dest-tls-verify=false', `oci-archive:${fx.multiArch}`, `docker://${reg.host}/skopeo/multi:1`]);
  });
  after(async () => { await reg?.stop(); });

  const registryDigest = async (ref: string): Promise<string> => (JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${ref}`])) as { Digest: string }).Digest;

  for (const tag of ['oci', 'v2s2']) {
    test(`pull of skopeo's ${tag} push: the registry's digest, the image ID, the rootfs umoci makes; run it`, async () => {
      const ts = makeTempStore({ open: false });
      const ref = `${reg.host}/skopeo/app:${tag}`;
      const [pulled] = await pull(ts, ref);
      assert.equal(pulled?.id, appId);
      assert.equal(pulled?.digest, await registryDigest(ref));
      assert.deepEqual(pulled?.names, [ref]);
      assert.deepEqual(await rootfsOf(ts, ref), reference);
      const run = await cli(ts, 'run', '--rm', ref);
      assert.equal(run.stdout, APP_OUTPUT, run.stderr);
      // Again: nothing fetched, the same image.
      const [again] = await pull(ts, ref);
      assert.equal(again?.existed, true);
    });
  }

  test('run of an image the store lacks pulls it first (--pull missing); --pull always asks the registry again', async () => {
    const ts = makeTempStore({ open: false });
    const ref = `${reg.host}/skopeo/app:oci`;
    const r = await cli(ts, 'run', '--rm', '--tls-verify=false', ref);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, APP_OUTPUT);
    assert.equal(JSON.parse((await cli(ts, 'image', 'ls', '--json')).stdout).length, 1);
    const again = await cli(ts, 'run', '--rm', '--pull', 'always', '--tls-verify=false', ref, 'echo again');
    assert.equal(again.stdout, 'again\n', again.stderr);
    // --pull never: an image the store lacks is not fetched, and said so.
    const never = await cli(ts, 'run', '--rm', '--pull', 'never', `${reg.host}/skopeo/app:v2s2`);
    assert.equal(never.status, 125);
    assert.match(never.stderr, /^error\[IMAGE_NOT_FOUND\]: Cannot run image .*: it is not in the store, and --pull never/);
    // A registry that does not answer: run's own failure, 125.
    const down = await cli(ts, 'run', '--rm', '--tls-verify=false', '127.0.0.1:1/nothing/here:1');
    assert.equal(down.status, 125);
    assert.match(down.stderr, /^error\[REGISTRY_UNREACHABLE\]/);
  });

  test('a multi-platform index: this host\'s image, --platform another, an absent platform refused', async () => {
    const ts = makeTempStore({ open: false });
    const ref = `${reg.host}/skopeo/multi:1`;
    const [amd] = await pull(ts, ref);
    assert.equal(amd?.platform, 'linux/amd64');
    const [arm] = await pull(ts, ref, '--platform', 'linux/arm64');
    assert.equal(arm?.platform, 'linux/arm64/v8');
    const ts2 = makeTempStore({ open: false });
    const none = await cli(ts2, 'pull', '--tls-verify=false', ref, '--platform', 'linux/ppc64le');
    assert.equal(none.status, 3);
    assert.match(none.stderr, /^error\[PLATFORM_NOT_FOUND\]/);
    await assertStoreEmpty(ts2);
    const all = await pull(ts2, ref, '--all-platforms');
    assert.deepEqual(all.map((p) => p.platform).sort(), ['linux/amd64', 'linux/arm64/v8']);
  });

  test('push, then skopeo copy back: the same digests; a push to another repository mounts the blobs', async () => {
    const ts = makeTempStore({ open: false });
    const load = await cli(ts, 'image', 'load', fx.appGzipDir, '--tag', `${reg.host}/mine/app:1`);
    assert.equal(load.status, 0, load.stderr);
    const local = JSON.parse((await cli(ts, 'image', 'inspect', `${reg.host}/mine/app:1`, '--json')).stdout) as { digest: string; id: string };
    const digestFile = join(ts.inputs, 'digest');
    const pushed = await cli(ts, 'push', '--tls-verify=false', '--json', '--digestfile', digestFile, `${reg.host}/mine/app:1`);
    assert.equal(pushed.status, 0, pushed.stderr);
    const result = JSON.parse(pushed.stdout) as { digest: string; blobs: { uploaded: number; mounted: number; existed: number } };
    assert.equal(result.digest, local.digest);
    assert.equal(fs.readFileSync(digestFile, 'utf8'), local.digest);
    assert.deepEqual(result.blobs, { uploaded: 3, mounted: 0, existed: 0 });
    assert.equal(await registryDigest(`${reg.host}/mine/app:1`), local.digest);
    // skopeo copies it back to a layout: the same manifest, config and layers.
    const back = join(ts.inputs, 'back');
    await skopeo(['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/mine/app:1`, `oci:${back}:1`]);
    const index = JSON.parse(fs.readFileSync(join(back, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]?.digest, local.digest);
    // Again: every blob is there already. To another repository: mounted from this one.
    const again = JSON.parse((await cli(ts, 'push', '--tls-verify=false', '--json', `${reg.host}/mine/app:1`)).stdout) as typeof result;
    assert.deepEqual(again.blobs, { uploaded: 0, mounted: 0, existed: 3 });
    const other = JSON.parse((await cli(ts, 'push', '--tls-verify=false', '--json', `${reg.host}/mine/app:1`, `${reg.host}/other/app:2`)).stdout) as typeof result;
    assert.equal(other.digest, local.digest);
    assert.deepEqual(other.blobs, { uploaded: 0, mounted: 3, existed: 0 });
    // Pull then push keeps the digest: pulled from skopeo's push, pushed elsewhere.
    const ts2 = makeTempStore({ open: false });
    const [pulled] = await pull(ts2, `${reg.host}/skopeo/app:v2s2`);
    const repushed = JSON.parse((await cli(ts2, 'push', '--tls-verify=false', '--json', `${reg.host}/skopeo/app:v2s2`, `${reg.host}/copy/app:v2s2`)).stdout) as typeof result;
    assert.equal(repushed.digest, pulled?.digest);
  });

  describe('through a proxy that breaks things', () => {
    let proxy: FaultProxy;
    before(async () => { proxy = await startFaultProxy(reg.port); });
    after(async () => { await proxy?.close(); });
    const blobGets = (): { path: string; range: string | undefined }[] => proxy.requests
      .filter((r) => r.method === 'GET' && r.path.includes('/blobs/') && !r.path.includes('/uploads/'))
      .map((r) => ({ path: r.path, range: r.headers.range as string | undefined }));

    test('a connection cut mid-blob: resumed with Range where it stopped, the image whole', async () => {
      const ts = makeTempStore({ open: false });
      proxy.requests.length = 0;
      let cut = false;
      proxy.rule = (r) => {
        if (!cut && r.method === 'GET' && r.path.includes('/blobs/') && r.headers.range === undefined && !r.path.endsWith(appId.slice(7))) {
          cut = true;
          return { kind: 'cut', afterBytes: 100_000 };
        }
        return undefined;
      };
      const [pulled] = await pull(ts, `${proxy.host}/skopeo/app:oci`);
      assert.equal(pulled?.id, appId);
      assert.equal(cut, true);
      const resumed = blobGets().filter((g) => g.range !== undefined);
      assert.equal(resumed.length, 1);
      assert.match(resumed[0]!.range!, /^bytes=100000-$/);
      assert.deepEqual(await rootfsOf(ts, `${proxy.host}/skopeo/app:oci`), reference);
    });

    test('a pull killed mid-blob keeps what came; the next one asks for the rest only', async () => {
      const ts = makeTempStore({ open: false });
      proxy.requests.length = 0;
      proxy.rule = (r) => (r.method === 'GET' && r.path.includes('/blobs/') && r.headers.range === undefined && !r.path.endsWith(appId.slice(7)) ? { kind: 'stall', afterBytes: 200_000 } : undefined);
      const child = startCli(['--root', ts.root, 'pull', '--tls-verify=false', '-q', '--jobs', '1', `${proxy.host}/skopeo/app:oci`]);
      const done = collect(child);
      const ingests = join(ts.root, 'blobs', 'ingest');
      const kept = (): number => (fs.existsSync(ingests) ? fs.readdirSync(ingests).map((d) => fs.statSync(join(ingests, d, 'data'), { throwIfNoEntry: false })?.size ?? 0).reduce((a, b) => a + b, 0) : 0);
      for (let i = 0; kept() < 200_000; i++) {
        if (i > 400) throw new Error('the pull never got its first 200000 bytes');
        await sleep(25);
      }
      child.kill('SIGKILL');
      await done;
      proxy.rule = () => undefined;
      proxy.requests.length = 0;
      const [pulled] = await pull(ts, `${proxy.host}/skopeo/app:oci`);
      assert.equal(pulled?.id, appId);
      assert.ok(blobGets().some((g) => g.range === 'bytes=200000-'), JSON.stringify(blobGets()));
      assert.deepEqual(fs.readdirSync(join(ts.root, 'blobs', 'ingest')), [], 'the finished ingest is gone');
    });

    test('a manifest naming a blob the registry does not have: BLOB_UNKNOWN, exit 8, nothing recorded', async () => {
      const ts = makeTempStore({ open: false });
      proxy.rule = (r) => (r.method === 'GET' && r.path.includes('/blobs/') && !r.path.endsWith(appId.slice(7))
        ? { kind: 'status', status: 404, body: JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] }) } : undefined);
      const r = await cli(ts, 'pull', '--tls-verify=false', `${proxy.host}/skopeo/app:oci`);
      proxy.rule = () => undefined;
      assert.equal(r.status, 8, r.stderr);
      assert.match(r.stderr, /error\[BLOB_UNKNOWN\]/);
      await assertStoreEmpty(ts);
    });

    test('a tampered blob: DIGEST_MISMATCH, nothing recorded', async () => {
      const ts = makeTempStore({ open: false });
      proxy.rule = (r) => (r.method === 'GET' && r.path.includes('/blobs/') && !r.path.endsWith(appId.slice(7)) ? { kind: 'tamper', atByte: 5000 } : undefined);
      const r = await cli(ts, 'pull', '--tls-verify=false', `${proxy.host}/skopeo/app:oci`);
      proxy.rule = () => undefined;
      assert.equal(r.status, 5, r.stderr);
      assert.match(r.stderr, /error\[DIGEST_MISMATCH\]/);
      await assertStoreEmpty(ts);
    });
  });

  test('a registry that wants credentials: 401 is REGISTRY_UNAUTHORIZED, exit 8, naming login', async () => {
    const locked = await startRegistry({ kind: 'htpasswd', users: { alice: 'secret' } });
    try {
      const ts = makeTempStore({ open: false });
      const r = await cli(ts, 'pull', '--tls-verify=false', `${locked.host}/team/app:1`);
      assert.equal(r.status, 8, r.stderr);
      assert.match(r.stderr, /^error\[REGISTRY_UNAUTHORIZED\][^\n]*\nhint: .*shibafu login/);
      await assertStoreEmpty(ts);
    } finally {
      await locked.stop();
    }
  });
});
