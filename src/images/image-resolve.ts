/**
 * Finds an image by what a user types, as podman does: a name in any spelling (`busybox`,
 * `docker.io/library/busybox:latest`), an image ID or its prefix (the config digest, what `image
 * ls` shows), or a manifest or config digest (`sha256:...`, `NAME@sha256:...`).
 */
import { imageByManifest, imageByName, imagesByPrefix, type ImageRow } from '../db/image-queries.js';
import type { Db } from '../db/db.js';
import { ShibafuError } from '../errors.js';
import type { Digest } from '../ids.js';
import { parseImageReference, formatImageReference } from '../registry/reference.js';

/** The shortest ID prefix taken as an ID (podman takes 3 hex too, with a name winning over it). */
const MIN_PREFIX = 3;

/**
 * @example
 * resolveImage(db, 'busybox') // the row named docker.io/library/busybox:latest
 */
export function resolveImage(db: Db, ref: string): ImageRow {
  const found = db.read(() => findImage(db, ref));
  if (found !== undefined) return found;
  throw new ShibafuError('IMAGE_NOT_FOUND', `Cannot find image "${ref}"`, { hint: 'See `shibafu image ls`; load one with `shibafu image load` or pull one with `shibafu pull`.' });
}

/** The image, or undefined; IMAGE_AMBIGUOUS for an ID prefix of several. */
export function findImage(db: Db, ref: string): ImageRow | undefined {
  const exact = imageByName(db, ref);
  if (exact !== undefined) return exact;
  const digest = /^(?:sha256:)?([0-9a-f]{64})$/.exec(ref);
  if (digest !== null) {
    const byManifest = imageByManifest(db, `sha256:${digest[1]}` as Digest);
    if (byManifest !== undefined) return byManifest;
  }
  let parsed;
  try {
    parsed = parseImageReference(ref);
  } catch {
    parsed = undefined;
  }
  if (parsed !== undefined) {
    if (parsed.digest !== undefined) {
      const m = imageByManifest(db, parsed.digest);
      if (m !== undefined) return m;
    } else {
      const named = imageByName(db, formatImageReference(parsed));
      if (named !== undefined) return named;
    }
  }
  const hex = /^(?:sha256:)?([0-9a-f]+)$/.exec(ref)?.[1];
  if (hex !== undefined && hex.length >= MIN_PREFIX) {
    const matches = imagesByPrefix(db, hex);
    // Two manifests of one config (the same image in gzip and zstd) are one ID: the newest answers.
    const configs = new Set(matches.map((m) => m.configDigest));
    if (configs.size > 1) {
      throw new ShibafuError('IMAGE_AMBIGUOUS', `Cannot pick an image by "${ref}": ${matches.length} images have IDs starting with it`, { hint: 'Give more of the ID, or a name.' });
    }
    return matches.at(-1);
  }
  return undefined;
}

