/**
 * Sweeps what interrupted operations left behind, when the store opens. Every decision is taken
 * inside a write transaction, because the only writers that move directories into layers/ or out of
 * it do so inside one too: holding the write lock, a directory without its row can only be a
 * leftover.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { layerByChainId, mountExists, openTokenExists } from '../db/layer-queries.js';
import { asChainId, type Digest } from '../ids.js';
import { removeUnpublishedBlob } from '../content/blob-publish.js';
import { undoUpperMove } from './layer-from-upper.js';
import { undoHalfMount } from './layer-mounts.js';
import { containerExists } from '../db/container-queries.js';
import { findStaleStaging, type StagingIntent } from './staging.js';
import type { StoreContext } from './store-context.js';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export interface SweptItem {
  readonly path: string;
  readonly kind: string;
  /** `removed`: a partial result was deleted; `restored`: an interrupted removal was rolled back. */
  readonly action: 'removed' | 'restored';
}

/**
 * Finds stale staging dirs and undoes their intent. Returns what it did so the CLI can say so.
 *
 * @example
 * const swept = sweepLeftovers(ctx); // [] on a clean store
 */
export function sweepLeftovers(ctx: StoreContext): SweptItem[] {
  const stale = findStaleStaging(ctx.layout, ctx.ports);
  if (stale.length === 0) return [];
  const swept: SweptItem[] = [];
  for (const s of stale) {
    try {
      const intent = s.intent;
      const restored = intent !== null && ctx.db.immediate(() => undoIntent(ctx, s.path, intent));
      fs.rmSync(s.path, { recursive: true, force: true });
      swept.push({ path: s.path, kind: intent?.kind ?? s.kind, action: restored ? 'restored' : 'removed' });
    } finally {
      s.release();
    }
  }
  return swept;
}

/** Returns true when an interrupted operation was rolled back rather than deleted. */
function undoIntent(ctx: StoreContext, stagingPath: string, intent: StagingIntent): boolean {
  if (intent.target === undefined) return false;
  if (intent.kind === 'remove') {
    // The directory was moved into staging but the transaction that drops its row never committed.
    const moved = join(stagingPath, 'layer');
    if (rowExists(ctx, intent) && fs.existsSync(moved) && !fs.existsSync(intent.target)) {
      fs.renameSync(moved, intent.target);
      return true;
    }
    return false;
  }
  if (intent.kind === 'seal') {
    // open/<token> was renamed to layers/<hex> but the row still says "open": move it back.
    const sealed = intent.chainId !== undefined && layerByChainId(ctx.db, asChainId(intent.chainId)) !== undefined;
    if (!sealed && intent.source !== undefined && fs.existsSync(intent.target) && !fs.existsSync(intent.source)) {
      fs.renameSync(intent.target, intent.source);
      return true;
    }
    return false;
  }
  if (intent.kind === 'commit') {
    // A commit that moved a container's upper: put it back unless the container was re-based.
    return undoUpperMove(ctx, stagingPath, intent);
  }
  if (intent.kind === 'mount' && intent.mountId !== undefined) {
    undoHalfMount(ctx, intent.mountId);
    return false;
  }
  // import / open / container: the target was filled but the row that shows it never committed.
  if (!rowExists(ctx, intent)) fs.rmSync(intent.target, { recursive: true, force: true });
  // An import's blobs: a file renamed into blobs/ whose row never committed.
  for (const digest of intent.blobs ?? []) {
    if (DIGEST_RE.test(digest)) removeUnpublishedBlob(ctx, digest as Digest);
  }
  return false;
}

function rowExists(ctx: StoreContext, intent: StagingIntent): boolean {
  if (intent.chainId !== undefined) return layerByChainId(ctx.db, asChainId(intent.chainId)) !== undefined;
  if (intent.openToken !== undefined) return openTokenExists(ctx.db, intent.openToken);
  if (intent.mountId !== undefined) return mountExists(ctx.db, intent.mountId);
  if (intent.containerId !== undefined) return containerExists(ctx.db, intent.containerId);
  return false;
}
