/**
 * Small images generated for registry tests: layers from the tar builder (the host's static
 * busybox for a real binary), gzip in process, an image config, and a manifest in OCI or Docker
 * v2s2 form; written as an OCI image layout for skopeo to push. Nothing here is a stored blob.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BUSYBOX } from '../fixtures/rootfs-busybox.js';
import { FIXTURE_MTIME, tarOf } from './tar-builder.js';

export interface TestBlob {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly size: number;
}

export interface TestImage {
  readonly layers: readonly TestBlob[];
  readonly config: TestBlob;
  readonly manifest: TestBlob & { readonly mediaType: string };
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function blobOf(bytes: Buffer): TestBlob {
  return { bytes, digest: sha256(bytes), size: bytes.length };
}

/** A layer with the host's static busybox and a marker file (about 1 MiB gzipped). */
export function busyboxLayer(marker: string): Buffer {
  return gzipSync(tarOf((t) => {
    t.dir('bin', { mtime: FIXTURE_MTIME }).file('bin/busybox', readFileSync(BUSYBOX), { mode: 0o755, mtime: FIXTURE_MTIME });
    t.symlink('bin/sh', 'busybox', { mtime: FIXTURE_MTIME });
    t.dir('etc', { mtime: FIXTURE_MTIME }).file('etc/marker', `${marker}\n`, { mtime: FIXTURE_MTIME });
  }));
}

/** A small layer with one file. */
export function smallLayer(name: string, content: string): Buffer {
  return gzipSync(tarOf((t) => t.file(name, content, { mtime: FIXTURE_MTIME })));
}

/**
 * An image of the given gzip layers.
 *
 * @example
 * const img = makeImage([smallLayer('a', 'a')], { format: 'oci' });
 */
export function makeImage(layers: readonly Buffer[], options: { format: 'oci' | 'docker'; arch?: string; cmd?: string[] } = { format: 'oci' }): TestImage {
  const oci = options.format === 'oci';
  const layerBlobs = layers.map(blobOf);
  const diffIds = layers.map((l) => sha256(gunzipSync(l)));
  const config = blobOf(Buffer.from(JSON.stringify({
    architecture: options.arch ?? 'amd64', os: 'linux',
    config: { Cmd: options.cmd ?? ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
  })));
  const manifestJson = {
    schemaVersion: 2,
    mediaType: oci ? OCI_MANIFEST : DOCKER_MANIFEST,
    config: { mediaType: oci ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json', digest: config.digest, size: config.size },
    layers: layerBlobs.map((l) => ({ mediaType: oci ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: l.digest, size: l.size })),
  };
  const manifest = blobOf(Buffer.from(JSON.stringify(manifestJson, null, 2)));
  return { layers: layerBlobs, config, manifest: { ...manifest, mediaType: manifestJson.mediaType } };
}

/** An OCI index of images for two platforms. */
export function makeIndex(images: readonly { image: TestImage; arch: string }[]): TestBlob & { mediaType: string } {
  const index = blobOf(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: images.map(({ image, arch }) => ({
      mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, platform: { os: 'linux', architecture: arch },
    })),
  })));
  return { ...index, mediaType: OCI_INDEX };
}

/**
 * Writes an OCI image layout holding `images` and `indexes` (their blobs), with index.json
 * naming each top-level entry by `ref` (org.opencontainers.image.ref.name), for `skopeo copy oci:DIR:REF`.
 */
export function writeOciLayout(dir: string, refs: readonly { ref: string; top: TestBlob & { mediaType: string }; images: readonly TestImage[] }[]): void {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: TestBlob): void => writeFileSync(join(blobs, b.digest.slice('sha256:'.length)), b.bytes);
  for (const { top, images } of refs) {
    put(top);
    for (const image of images) {
      put(image.manifest);
      put(image.config);
      image.layers.forEach(put);
    }
  }
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: refs.map(({ ref, top }) => ({ mediaType: top.mediaType, digest: top.digest, size: top.size, annotations: { 'org.opencontainers.image.ref.name': ref } })),
  }));
}
