/**
 * The skip-unpack of an import: an archive whose blob the store already holds for a layer on the
 * same parent gives that very layer again (same bytes, same diffId, same chainId), so only its name
 * is added, as the chainId dedup of layer-commit.ts does after a full import.
 *
 * Knowing the blob's digest must not slow the usual import, where it is new:
 *  - a caller that knows the digest (a registry pull: the manifest lists it) passes
 *    `expectedDigest` and the source is not read at all when the blob is known;
 *  - a regular file is hashed first only when some blob of a layer on that parent has its exact
 *    size: a cheap indexed query, true almost only for the same archive again. Then the file is
 *    read twice when it turns out new (a size collision), which is rare and costs a hash only;
 *  - a stream (stdin) is never read twice: it is imported, and the chainId dedup catches it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { blobSizeOnParent, layerFromBlob } from '../db/blob-queries.js';
import { layerById, upsertName, type LayerRow } from '../db/layer-queries.js';
import type { Digest } from '../ids.js';
import { assertNameFree, type CommitResult } from './layer-commit.js';
import type { StoreContext } from './store-context.js';

const READ_CHUNK = 1 << 20;

/**
 * The stored layer an import of `source` on `parent` would give, found by its blob; null when
 * the archive has to be imported.
 *
 * @example
 * const known = await findLayerOfBlob(ctx, '/tmp/app.tar.gz', { parent: null });
 */
export async function findLayerOfBlob(
  ctx: StoreContext,
  source: string | Readable,
  options: { parent: LayerRow | null; expectedDigest?: Digest; signal?: AbortSignal },
): Promise<LayerRow | null> {
  const parentId = options.parent?.id ?? null;
  if (options.expectedDigest !== undefined) return layerOfBlob(ctx, options.expectedDigest, parentId);
  if (typeof source !== 'string') return null;
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch {
    return null; // The import reports a missing or unreadable source with its own error.
  }
  if (!st.isFile() || !ctx.db.read(() => blobSizeOnParent(ctx.db, st.size, parentId))) return null;
  return layerOfBlob(ctx, await hashFile(source, options.signal), parentId);
}

function layerOfBlob(ctx: StoreContext, digest: Digest, parentId: number | null): LayerRow | null {
  return ctx.db.read(() => {
    const id = layerFromBlob(ctx.db, digest, parentId);
    return id === undefined ? null : layerById(ctx.db, id) ?? null;
  });
}

/**
 * Adds `name` to a stored layer found by its blob; null when it was removed meanwhile (the
 * caller then imports as usual).
 *
 * @example
 * nameStoredLayer(ctx, known, 'app') // { layer: known, existed: true }
 */
export function nameStoredLayer(ctx: StoreContext, layer: LayerRow, name: string | null): CommitResult | null {
  return ctx.db.immediate(() => {
    const current = layerById(ctx.db, layer.id);
    if (current === undefined || current.chainId !== layer.chainId) return null;
    if (name !== null) {
      assertNameFree(ctx, name, current.chainId);
      upsertName(ctx.db, name, current.id, ctx.now());
    }
    return { layer: current, existed: true };
  });
}

async function hashFile(path: string, signal: AbortSignal | undefined): Promise<Digest> {
  const hash = createHash('sha256');
  const fh = await fs.promises.open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return `sha256:${hash.digest('hex')}` as Digest;
}
