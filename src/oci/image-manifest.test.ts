import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isShibafuError } from '../errors.js';
import { parseManifestOrIndex } from './image-manifest.js';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from './media-types.js';
import { hostPlatform, parsePlatform, platformMatches, formatPlatform } from './platform.js';
import { layerCompression } from './media-types.js';

const D = (n: string): string => `sha256:${n.repeat(64)}`;
const manifest = (extra: Record<string, unknown> = {}): Buffer => Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: OCI_MANIFEST,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 10 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('a'), size: 5 }],
  ...extra,
}));

test('a manifest: its config and layers; an index: its manifests with platforms', () => {
  const m = parseManifestOrIndex(manifest(), 'm');
  assert.equal(m.kind, 'manifest');
  assert.equal(m.kind === 'manifest' && m.layers[0]?.digest, D('a'));
  const i = parseManifestOrIndex(Buffer.from(JSON.stringify({
    schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: D('b'), size: 3, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }],
  })), 'i');
  assert.equal(i.kind, 'index');
  assert.equal(i.mediaType, OCI_INDEX);
  assert.deepEqual(i.kind === 'index' && i.manifests[0]?.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
});

test('broken manifests: each refused with MANIFEST_INVALID or MEDIA_TYPE_UNSUPPORTED and the reason', () => {
  const cases: [Buffer, string, RegExp][] = [
    [Buffer.from('{'), 'MANIFEST_INVALID', /not JSON/],
    [Buffer.from('[]'), 'MANIFEST_INVALID', /not a JSON object/],
    [manifest({ schemaVersion: 3 }), 'MANIFEST_INVALID', /schemaVersion/],
    [manifest({ schemaVersion: 1 }), 'MEDIA_TYPE_UNSUPPORTED', /schema 1/],
    [manifest({ mediaType: 'application/vnd.example+json' }), 'MEDIA_TYPE_UNSUPPORTED', /neither an image manifest nor an index/],
    [manifest({ layers: [{ mediaType: 'x', digest: 'md5:abc', size: 1 }] }), 'MANIFEST_INVALID', /layer 0: its digest/],
    [manifest({ layers: [{ mediaType: 'x', digest: D('a'), size: -1 }] }), 'MANIFEST_INVALID', /size/],
    [manifest({ config: undefined }), 'MANIFEST_INVALID', /config: it is not a descriptor/],
    [manifest({ layers: new Array(501).fill({ mediaType: 'x', digest: D('a'), size: 1 }) }), 'LIMIT_EXCEEDED', /501 layers/],
  ];
  for (const [bytes, code, message] of cases) {
    assert.throws(() => parseManifestOrIndex(bytes, 'the manifest'), (e: unknown) => isShibafuError(e, code as never) && message.test((e as Error).message), message.source);
  }
  // A manifest served as an index, or the reverse, is not what it claims.
  assert.throws(() => parseManifestOrIndex(manifest(), 'm', OCI_INDEX), (e: unknown) => isShibafuError(e, 'MANIFEST_INVALID'));
  // Docker's and OCI's manifests stand for each other.
  assert.equal(parseManifestOrIndex(manifest({ mediaType: DOCKER_MANIFEST }), 'm', OCI_MANIFEST).kind, 'manifest');
});

test('layer media types name their compression; others are refused by name', () => {
  assert.equal(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip', 'l'), 'gzip');
  assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+zstd', 'l'), 'zstd');
  assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar', 'l'), 'none');
  assert.throws(() => layerCompression('application/vnd.oci.image.layer.v1.tar+gzip+encrypted', 'l'), (e: unknown) => isShibafuError(e, 'MEDIA_TYPE_UNSUPPORTED') && /Decrypt/.test((e as { hint?: string }).hint ?? ''));
});

test('platforms: parsed, matched as containerd does (arm64 is v8), named for this host', () => {
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.throws(() => parsePlatform('linux'), (e: unknown) => isShibafuError(e, 'USAGE'));
  assert.equal(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' }), true);
  assert.equal(platformMatches(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' }), true);
  assert.equal(platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' }), false);
  assert.equal(platformMatches(parsePlatform('linux/amd64'), { os: 'windows', architecture: 'amd64' }), false);
  assert.deepEqual(hostPlatform('x64'), { os: 'linux', architecture: 'amd64' });
  assert.equal(formatPlatform(hostPlatform('arm64')), 'linux/arm64/v8');
});
