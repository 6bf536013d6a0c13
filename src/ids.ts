/**
 * Content identifiers. Parsed once at the edge into branded strings so a diffId can never be
 * passed where a chainId is meant.
 */
import type { createHash as CreateHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { ShibafuError } from './errors.js';

/** `sha256:<64 hex>` digest of some bytes. */
export type Digest = string & { readonly __brand: 'Digest' };
/** Digest of the uncompressed layer tar (OCI image-spec config.md `rootfs.diff_ids`). */
export type DiffId = Digest & { readonly __diff: true };
/** Identity of a layer on its parents (OCI image-spec config.md, "ChainID"). */
export type ChainId = Digest & { readonly __chain: true };

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** Parses `sha256:<hex>`; throws a USAGE error otherwise. */
export function parseDigest(value: string): Digest {
  if (!DIGEST_RE.test(value)) {
    throw new ShibafuError('USAGE', `Cannot parse digest "${value}": expected sha256:<64 lowercase hex>`);
  }
  return value as Digest;
}

export function asDiffId(value: string): DiffId {
  return parseDigest(value) as DiffId;
}

export function asChainId(value: string): ChainId {
  return parseDigest(value) as ChainId;
}

// node:crypto is loaded on the first hash, not at start: read-only commands (layer list, ps)
// never hash, and loading it (with the stream modules it brings) is ~25 internal modules.
let createHash: typeof CreateHash | undefined;

/** sha256 of bytes in digest form. */
export function sha256Digest(data: string | Uint8Array): Digest {
  createHash ??= (createRequire(import.meta.url)('node:crypto') as { createHash: typeof CreateHash }).createHash;
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/**
 * The OCI chainId rule: ChainID(L0) = DiffID(L0); ChainID(L0|..|Ln) = sha256(ChainID(L0|..|Ln-1) + " " + DiffID(Ln)).
 *
 * @example
 * chainIdOf(null, diffId) === diffId
 */
export function chainIdOf(parent: ChainId | null, diffId: DiffId): ChainId {
  if (parent === null) return diffId as unknown as ChainId;
  return sha256Digest(`${parent} ${diffId}`) as ChainId;
}

/** The 64 hex characters of a digest (used as directory names). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** The 12-character short form shown in tables, as docker and podman do. */
export function shortId(digest: Digest): string {
  return digest.slice('sha256:'.length, 'sha256:'.length + 12);
}
