/**
 * The media types of images, OCI's and Docker schema 2's, and what each says about a blob: a
 * manifest, an index, a config, or a layer in a compression. A layer's compression is told by its
 * bytes at import (layer-source.ts); the media type is checked so that an unknown kind of blob is
 * refused by name rather than unpacked as a guess.
 */
import { ShibafuError } from '../errors.js';
import type { Compression } from '../tar/layer-source.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/** containers/image's name for a Docker layer stored uncompressed (a docker-archive's layer.tar). */
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';
export const DOCKER_SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** Layer media types and the compression each names. The non-distributable (foreign) kinds are layers too. */
const LAYERS: Readonly<Record<string, Compression>> = {
  [OCI_LAYER]: 'none',
  [OCI_LAYER_GZIP]: 'gzip',
  [OCI_LAYER_ZSTD]: 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  [DOCKER_LAYER]: 'none',
  [DOCKER_LAYER_GZIP]: 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

/** The media types a manifest of each kind gives its layers, by compression. */
export const LAYER_MEDIA_TYPE: Readonly<Record<'oci' | 'docker', Readonly<Record<Compression, string>>>> = {
  oci: { none: OCI_LAYER, gzip: OCI_LAYER_GZIP, zstd: OCI_LAYER_ZSTD },
  docker: { none: DOCKER_LAYER, gzip: DOCKER_LAYER_GZIP, zstd: OCI_LAYER_ZSTD },
};

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST;
}

/**
 * The compression a layer media type names; MEDIA_TYPE_UNSUPPORTED for anything that is not a
 * layer shibafu can unpack (an encrypted layer, an artifact's blob).
 *
 * @example
 * layerCompression('application/vnd.oci.image.layer.v1.tar+zstd') // 'zstd'
 */
export function layerCompression(mediaType: string, where: string): Compression {
  const c = LAYERS[mediaType];
  if (c === undefined) {
    throw new ShibafuError('MEDIA_TYPE_UNSUPPORTED', `Cannot unpack a layer of ${where}: its media type "${mediaType}" is not a layer shibafu knows`, {
      hint: mediaType.includes('encrypted') ? 'Decrypt the image first (skopeo copy --decryption-key ...).' : 'Only OCI and Docker schema 2 layers (tar, tar+gzip, tar+zstd) can be unpacked.',
      details: { mediaType },
    });
  }
  return c;
}
