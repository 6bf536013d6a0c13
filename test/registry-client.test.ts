/**
 * The registry client against Debian's docker-registry, judged by skopeo: what the client
 * pushes, skopeo reads back with the same digests and bytes; what skopeo pushes (OCI and Docker
 * v2s2 manifests, an index of two platforms), the client fetches with every digest checked.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { RegistryClient } from '../src/registry/registry-client.js';
import type { Digest } from '../src/ids.js';
import { busyboxLayer, DOCKER_MANIFEST, makeImage, makeIndex, OCI_INDEX, OCI_MANIFEST, sha256, smallLayer, writeOciLayout } from './helpers/oci-image.js';
import { pushTestImage, readAll, registryMissing, skopeo, startRegistry, type TestRegistry } from './helpers/registry.js';

const skip = registryMissing();

describe('registry client against docker-registry, judged by skopeo', { skip }, () => {
  let reg: TestRegistry;
  let client: RegistryClient;
  const work = mkdtempSync(join(tmpdir(), 'shibafu-regtest-'));
  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient({ registry: reg.host, tlsVerify: false });
  });
  after(async () => {
    client?.close();
    await reg?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('ping finds plain HTTP with --tls-verify=false and no auth', async () => {
    assert.deepEqual(await client.ping(), { url: reg.url, auth: 'none' });
  });

  test('pushed by the client, read by skopeo: same manifest bytes, same digests', async () => {
    const image = makeImage([busyboxLayer('one'), smallLayer('hello', 'world')], { format: 'oci' });
    const digest = await pushTestImage(client, 'team/app', 'v1', image);
    assert.equal(digest, image.manifest.digest);
    const raw = await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/team/app:v1`]);
    assert.equal(sha256(raw), image.manifest.digest);
    const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/team/app:v1`])) as { Digest: string; Layers: string[] };
    assert.equal(info.Digest, image.manifest.digest);
    assert.deepEqual(info.Layers, image.layers.map((l) => l.digest));
    // skopeo copies it out, checking every blob's digest as it goes.
    await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/team/app:v1`, `oci:${join(work, 'out')}:v1`]);
    assert.deepEqual(await client.listTags('team/app'), ['v1']);
  });

  test('HEAD and GET of what was pushed: sizes, digests, bytes', async () => {
    const image = makeImage([smallLayer('x', 'head me')], { format: 'docker' });
    await pushTestImage(client, 'heads', 'latest', image);
    assert.deepEqual(await client.headManifest('heads', 'latest'), { digest: image.manifest.digest, mediaType: DOCKER_MANIFEST, size: image.manifest.size });
    assert.equal(await client.headManifest('heads', 'nope'), null);
    assert.deepEqual(await client.headBlob('heads', image.layers[0]!.digest as Digest), { size: image.layers[0]!.size });
    assert.equal(await client.headBlob('heads', sha256('absent') as Digest), null);
    const m = await client.getManifest('heads', image.manifest.digest);
    assert.deepEqual(m, { bytes: image.manifest.bytes, mediaType: DOCKER_MANIFEST, digest: image.manifest.digest });
    assert.deepEqual(await readAll(client.openBlob('heads', image.layers[0]!.digest as Digest, { size: image.layers[0]!.size })), image.layers[0]!.bytes);
  });

  test('pushed by skopeo (OCI, Docker v2s2, an index of two platforms), fetched by the client with digests checked', async () => {
    const amd = makeImage([busyboxLayer('amd64')], { format: 'oci', arch: 'amd64' });
    const arm = makeImage([smallLayer('arch', 'arm64')], { format: 'oci', arch: 'arm64' });
    const index = makeIndex([{ image: amd, arch: 'amd64' }, { image: arm, arch: 'arm64' }]);
    const layout = join(work, 'layout');
    writeOciLayout(layout, [{ ref: 'single', top: amd.manifest, images: [amd] }, { ref: 'multi', top: index, images: [amd, arm] }]);
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:single`, `docker://${reg.host}/from-skopeo/oci:1`]);
    await skopeo(['copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:single`, `docker://${reg.host}/from-skopeo/docker:1`]);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${reg.host}/from-skopeo/multi:1`]);

    const oci = await client.getManifest('from-skopeo/oci', '1');
    assert.equal(oci.mediaType, OCI_MANIFEST);
    assert.equal(oci.digest, amd.manifest.digest, 'skopeo keeps an OCI manifest byte for byte');
    const docker = await client.getManifest('from-skopeo/docker', '1');
    assert.equal(docker.mediaType, DOCKER_MANIFEST);
    assert.equal(docker.digest, sha256(await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/from-skopeo/docker:1`])));
    const multi = await client.getManifest('from-skopeo/multi', '1');
    assert.equal(multi.mediaType, OCI_INDEX);
    assert.equal(multi.digest, index.digest);
    const listed = JSON.parse(multi.bytes.toString()) as { manifests: { digest: string }[] };
    for (const entry of listed.manifests) {
      const child = await client.getManifest('from-skopeo/multi', entry.digest);
      assert.equal(child.digest, entry.digest);
      const layers = (JSON.parse(child.bytes.toString()) as { layers: { digest: string; size: number }[]; config: { digest: string; size: number } });
      for (const d of [...layers.layers, layers.config]) {
        const bytes = await readAll(client.openBlob('from-skopeo/multi', d.digest as Digest, { size: d.size }));
        assert.equal(sha256(bytes), d.digest);
        assert.equal(bytes.length, d.size);
      }
    }
    const dockerLayers = (JSON.parse(docker.bytes.toString()) as { layers: { digest: string }[] }).layers;
    assert.deepEqual(dockerLayers.map((l) => l.digest), amd.layers.map((l) => l.digest), 'v2s2 conversion keeps the gzip layers');
  });

  test('a blob is mounted from another repository without its bytes; a missing one is not', async () => {
    const image = makeImage([smallLayer('m', 'mount me')], { format: 'oci' });
    await pushTestImage(client, 'mount/src', 'v1', image);
    assert.equal(await client.mountBlob('mount/dst', image.layers[0]!.digest as Digest, 'mount/src'), true);
    assert.deepEqual(await client.headBlob('mount/dst', image.layers[0]!.digest as Digest), { size: image.layers[0]!.size });
    assert.equal(await client.mountBlob('mount/dst', sha256('nowhere') as Digest, 'mount/src'), false);
  });

  test('chunked upload (PATCH with Content-Range, then PUT): the registry has the exact blob', async () => {
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 11)) & 0xff;
    const digest = sha256(bytes) as Digest;
    const seen: number[] = [];
    await client.uploadBlob('chunks', digest, bytes.length, (offset) => Readable.from([bytes.subarray(offset)]), {
      chunkSize: 1024 * 1024, onProgress: (p) => seen.push(p.bytes),
    });
    assert.equal(seen.at(-1), bytes.length);
    assert.deepEqual(await readAll(client.openBlob('chunks', digest)), bytes);
  });

  test('missing manifests and blobs: MANIFEST_UNKNOWN and BLOB_UNKNOWN, exit 8', async () => {
    await assert.rejects(client.getManifest('team/app', 'no-such-tag'), (err: Error & { code?: string; exitStatus?: number }) => {
      assert.equal(err.code, 'MANIFEST_UNKNOWN');
      assert.equal(err.exitStatus, 8);
      assert.match(err.message, new RegExp(`^Cannot fetch manifest ${reg.host}/team/app:no-such-tag: the registry has no such manifest \\(MANIFEST_UNKNOWN`));
      return true;
    });
    await assert.rejects(client.getManifest('no/such/repo', 'latest'), { code: 'MANIFEST_UNKNOWN' });
    await assert.rejects(readAll(client.openBlob('team/app', sha256('absent') as Digest)), { code: 'BLOB_UNKNOWN' });
  });

  test('an unreachable registry: REGISTRY_UNREACHABLE naming it, with a hint', async () => {
    const down = new RegistryClient({ registry: '127.0.0.1:1', tlsVerify: false, retry: { attempts: 2, baseDelayMs: 1 } });
    try {
      await assert.rejects(down.getManifest('a', 'b'), (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'REGISTRY_UNREACHABLE');
        assert.match(err.message, /no answer from 127\.0\.0\.1:1: connection refused \(ECONNREFUSED\)$/);
        assert.match(err.hint ?? '', /Check the registry's name and port/);
        return true;
      });
    } finally {
      down.close();
    }
  });

  test('a plain-HTTP registry without --tls-verify=false: a TLS error that names the flag', async () => {
    const strict = new RegistryClient({ registry: reg.host, retry: { attempts: 1 } });
    try {
      await assert.rejects(strict.ping(), (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'REGISTRY_UNREACHABLE');
        assert.match(err.message, /the TLS handshake failed: it does not speak TLS \(plain HTTP\?\) \(EPROTO\)$/);
        assert.match(err.hint ?? '', /--tls-verify=false/);
        return true;
      });
    } finally {
      strict.close();
    }
  });
});
