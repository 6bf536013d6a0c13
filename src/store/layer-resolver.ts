/**
 * Turns what a user typed (a name, a chainId, or a unique prefix of one) into a layer row.
 */
import { layerByName, layersByPrefix, type LayerRow } from '../db/layer-queries.js';
import type { Db } from '../db/db.js';
import { ShibafuError } from '../errors.js';
import { shortId } from '../ids.js';

const ID_RE = /^(?:sha256:)?([0-9a-f]{4,64})$/;

/**
 * Names win over ids (a name that looks like hex is still a name), as in podman.
 *
 * @example
 * resolveLayer(db, 'alpine-base'); resolveLayer(db, '3f2a9c'); resolveLayer(db, 'sha256:3f2a...')
 */
export function resolveLayer(db: Db, ref: string): LayerRow {
  const byName = layerByName(db, ref);
  if (byName !== undefined) return byName;
  const m = ID_RE.exec(ref);
  if (m !== null) {
    const found = layersByPrefix(db, m[1] as string, 2);
    if (found.length === 1) return found[0] as LayerRow;
    if (found.length > 1) {
      throw new ShibafuError('AMBIGUOUS_ID', `Cannot resolve layer "${ref}": the prefix matches ${found.map((l) => shortId(l.chainId!)).join(', ')} and more`, {
        hint: 'Give more characters of the chainId, or use a name.',
      });
    }
  }
  throw new ShibafuError('LAYER_NOT_FOUND', `Cannot find layer "${ref}": no layer has that name or id`, {
    hint: 'See `shibafu layer list`.',
  });
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.:/-]{0,127}$/;

/** Names follow OCI reference-tag-like rules so they survive shells, URLs and file names. */
export function validateName(name: string): string {
  if (!NAME_RE.test(name) || name.includes('..')) {
    throw new ShibafuError('INVALID_NAME', `Cannot use "${name}" as a layer name: use 1-128 letters, digits, ".", "_", "-", ":" or "/", starting with a letter or digit`);
  }
  return name;
}
