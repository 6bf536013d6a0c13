/**
 * The manifest media types a registry may serve, OCI's and Docker's (image-spec media-types.md;
 * Docker's "Image Manifest V2, Schema 2"), and how to tell which one a response is when its
 * Content-Type is missing or generic. Pure.
 */

import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, OCI_INDEX, OCI_MANIFEST } from '../oci/media-types.js';

// The names themselves are the one list of media types (src/oci/media-types.ts).
export { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, OCI_INDEX, OCI_MANIFEST };

/** Every image manifest and index type, the `Accept` of a pull (a registry converts otherwise). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST];

/** The types that list other manifests (multi-platform images). */
export const INDEX_MEDIA_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST];

/** Registries' manifests are small; distribution refuses more than 4 MiB, and so does shibafu. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const GENERIC = new Set(['', 'application/json', 'text/plain', 'application/octet-stream', 'binary/octet-stream']);

/**
 * The media type of manifest bytes: the Content-Type when it names one, else the document's own
 * `mediaType`, else a guess from its shape (`manifests` is an index, `config` and `layers` a
 * manifest, `schemaVersion` 1 Docker's schema 1), as containers/image guesses.
 *
 * @example
 * manifestMediaType('application/vnd.oci.image.manifest.v1+json; charset=utf-8', bytes) // OCI_MANIFEST
 * manifestMediaType('application/json', Buffer.from('{"manifests":[]}')) // OCI_INDEX
 */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const ct = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!GENERIC.has(ct)) return ct;
  let doc: { mediaType?: unknown; manifests?: unknown; config?: unknown; layers?: unknown; schemaVersion?: unknown; signatures?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch {
    return ct === '' ? 'application/octet-stream' : ct;
  }
  if (typeof doc !== 'object' || doc === null) return ct === '' ? 'application/octet-stream' : ct;
  if (typeof doc.mediaType === 'string' && doc.mediaType !== '') return doc.mediaType;
  if (doc.schemaVersion === 1) return doc.signatures !== undefined ? DOCKER_SCHEMA1_SIGNED : DOCKER_SCHEMA1;
  if (Array.isArray(doc.manifests)) return OCI_INDEX;
  if (doc.config !== undefined && Array.isArray(doc.layers)) return OCI_MANIFEST;
  return ct === '' ? 'application/octet-stream' : ct;
}
