/**
 * Image manifests and indexes (OCI image-spec manifest.md and image-index.md; Docker's schema 2
 * manifest and manifest list), parsed from the bytes the image carries. The bytes are what is
 * stored and sent on: nothing here ever serializes a manifest again, so digests survive.
 */
import { ShibafuError } from '../errors.js';
import { invalid, isRecord, parseDescriptor, parseJsonObject, type Descriptor } from './descriptor.js';
import {
  DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, isIndexMediaType, isManifestMediaType, OCI_INDEX, OCI_MANIFEST,
} from './media-types.js';

export interface ImageManifest {
  readonly kind: 'manifest';
  readonly mediaType: string;
  readonly config: Descriptor;
  /** Bottom layer first. */
  readonly layers: readonly Descriptor[];
  readonly annotations: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
  readonly annotations: Readonly<Record<string, string>>;
}

/** The most layers an image may have: the kernel stacks 500 lowers, and a run needs them all. */
const MAX_LAYERS = 500;

/**
 * A manifest or an index, told apart by its mediaType (the field, else the one it was served or
 * described with). MANIFEST_INVALID for malformed JSON or fields; MEDIA_TYPE_UNSUPPORTED for
 * Docker schema 1 and for anything that is neither.
 *
 * @example
 * const m = parseManifestOrIndex(bytes, 'the manifest of busybox:latest');
 * if (m.kind === 'manifest') m.layers.length;
 */
export function parseManifestOrIndex(bytes: Buffer, where: string, described?: string): ImageManifest | ImageIndex {
  const doc = parseJsonObject(bytes, where);
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if (declared !== undefined && described !== undefined && declared !== described && !(isManifestMediaType(declared) && isManifestMediaType(described))
    && !(isIndexMediaType(declared) && isIndexMediaType(described))) {
    throw invalid(where, `it says it is "${declared}" but was given as "${described}"`);
  }
  // OCI allows the field to be absent: then the structure (or the descriptor) says which it is.
  const mediaType = declared ?? described ?? (Array.isArray(doc.manifests) ? OCI_INDEX : OCI_MANIFEST);
  if (mediaType === DOCKER_SCHEMA1 || mediaType === DOCKER_SCHEMA1_SIGNED || doc.schemaVersion === 1) {
    throw new ShibafuError('MEDIA_TYPE_UNSUPPORTED', `Cannot read ${where}: it is a Docker schema 1 manifest, deprecated since 2017`, {
      hint: 'Push the image again with a current tool (it then writes schema 2 or OCI).',
    });
  }
  if (doc.schemaVersion !== 2) throw invalid(where, `its schemaVersion is ${JSON.stringify(doc.schemaVersion)}, not 2`);
  const annotations = annotationsOf(doc.annotations, where);
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid(where, 'an index without a manifests list');
    return { kind: 'index', mediaType, manifests: doc.manifests.map((d, i) => parseDescriptor(d, `${where}, manifest ${i}`)), annotations };
  }
  if (!isManifestMediaType(mediaType)) {
    throw new ShibafuError('MEDIA_TYPE_UNSUPPORTED', `Cannot read ${where}: "${mediaType}" is neither an image manifest nor an index`, {
      hint: `shibafu reads ${OCI_MANIFEST}, ${OCI_INDEX}, ${DOCKER_MANIFEST} and ${DOCKER_MANIFEST_LIST}.`,
    });
  }
  if (!Array.isArray(doc.layers)) throw invalid(where, 'a manifest without a layers list');
  if (doc.layers.length > MAX_LAYERS) {
    throw new ShibafuError('LIMIT_EXCEEDED', `Cannot read ${where}: ${doc.layers.length} layers, more than the ${MAX_LAYERS} the kernel can stack`);
  }
  return {
    kind: 'manifest', mediaType,
    config: parseDescriptor(doc.config, `${where}, config`),
    layers: doc.layers.map((d, i) => parseDescriptor(d, `${where}, layer ${i}`)),
    annotations,
  };
}

function annotationsOf(v: unknown, where: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isRecord(v) || Object.values(v).some((a) => typeof a !== 'string')) throw invalid(where, 'its annotations are not strings');
  return v as Record<string, string>;
}
