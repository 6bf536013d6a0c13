/**
 * OCI content descriptors (image-spec descriptor.md): what a manifest or an index says of a blob.
 * Parsed from JSON the image carries, so every field is checked before anything trusts it.
 */
import { ShibafuError } from '../errors.js';
import { parseDigest, type Digest } from '../ids.js';
import type { Platform } from './platform.js';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  /** In an index: the platform of the manifest it points at. */
  readonly platform?: Platform;
}

/** Annotation of an index entry naming the image (OCI layout's tag). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** containerd's and Docker >= 25's annotation with the full image name. */
export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';

/** MANIFEST_INVALID about `where`. */
export function invalid(where: string, why: string): ShibafuError {
  return new ShibafuError('MANIFEST_INVALID', `Cannot read ${where}: ${why}`, {
    hint: 'The image is damaged or was not written by an OCI or Docker tool; nothing was stored.',
  });
}

/** The JSON object in `bytes` (a manifest, index or config); MANIFEST_INVALID when it is not one. */
export function parseJsonObject(bytes: Buffer, where: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(where, 'it is not JSON');
  }
  if (!isRecord(doc)) throw invalid(where, 'it is not a JSON object');
  return doc;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks one descriptor object.
 *
 * @example
 * parseDescriptor(JSON.parse(bytes).config, 'the manifest\'s config')
 */
export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isRecord(v)) throw invalid(where, 'it is not a descriptor object');
  const { mediaType, digest, size, annotations, platform } = v;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(where, 'it has no mediaType');
  if (typeof digest !== 'string') throw invalid(where, 'it has no digest');
  let parsed: Digest;
  try {
    parsed = parseDigest(digest);
  } catch {
    throw invalid(where, `its digest "${digest}" is not sha256:<64 hex>`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(where, 'its size is not a non-negative integer');
  const out: { -readonly [K in keyof Descriptor]: Descriptor[K] } = { mediaType, digest: parsed, size };
  if (annotations !== undefined) {
    if (!isRecord(annotations) || Object.values(annotations).some((a) => typeof a !== 'string')) throw invalid(where, 'its annotations are not strings');
    out.annotations = annotations as Record<string, string>;
  }
  if (platform !== undefined) {
    if (!isRecord(platform) || typeof platform.os !== 'string' || typeof platform.architecture !== 'string'
      || (platform.variant !== undefined && typeof platform.variant !== 'string')) {
      throw invalid(where, 'its platform has no os and architecture');
    }
    out.platform = { os: platform.os, architecture: platform.architecture, ...(typeof platform.variant === 'string' ? { variant: platform.variant } : {}) };
  }
  return out;
}
