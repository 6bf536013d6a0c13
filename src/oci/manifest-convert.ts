/**
 * A Docker schema 2 manifest as an OCI one, for an OCI layout: OCI readers (umoci, skopeo's
 * `oci:` transport) take only OCI media types there. The config and layer blobs stay the same
 * bytes, so the image ID and the diffIds stay; only the manifest (and so its digest) is new, as
 * with `skopeo copy docker-archive:... oci:...`. The same input always gives the same bytes.
 */
import type { ImageManifest } from './image-manifest.js';
import { DOCKER_MANIFEST, layerCompression, LAYER_MEDIA_TYPE, OCI_CONFIG, OCI_MANIFEST } from './media-types.js';

/**
 * @example
 * const oci = ociManifestOf(manifest); // Buffer of an application/vnd.oci.image.manifest.v1+json
 */
export function ociManifestOf(manifest: ImageManifest): Buffer | null {
  if (manifest.mediaType !== DOCKER_MANIFEST) return null;
  const doc = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: manifest.config.digest, size: manifest.config.size },
    layers: manifest.layers.map((l, i) => ({
      mediaType: LAYER_MEDIA_TYPE.oci[layerCompression(l.mediaType, `layer ${i}`)], digest: l.digest, size: l.size,
      ...(l.annotations !== undefined ? { annotations: l.annotations } : {}),
    })),
    ...(Object.keys(manifest.annotations).length > 0 ? { annotations: manifest.annotations } : {}),
  };
  return Buffer.from(JSON.stringify(doc));
}
