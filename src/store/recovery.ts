/**
 * Sweeps what interrupted operations left behind, when the store opens. Every decision is taken
 * inside a write transaction, because the only writers that move directories into layers/ or out of
 * it do so inside one too: holding the write lock, a directory without its row can only be a
 * leftover. Each kind of intent is undone by the undo its owner registered (store-intents.ts).
 */
import * as fs from 'node:fs';
import { undoImport } from './layer-commit.js';
import { undoUpperMove } from './layer-from-upper.js';
import { undoMount } from './layer-mounts.js';
import { undoRemove } from './layer-remove.js';
import { undoAdd, undoOpen, undoSeal } from './open-layer.js';
import { findStaleStaging } from './staging.js';
import type { StoreContext } from './store-context.js';
import type { IntentUndo, IntentUndoers, StoreIntent } from './store-intents.js';

export interface SweptItem {
  readonly path: string;
  readonly kind: string;
  /** `removed`: a partial result was deleted; `restored`: an interrupted removal was rolled back. */
  readonly action: 'removed' | 'restored';
}

/** The undo of each operation the store itself owns; others (containers) are passed to the sweep. */
export const STORE_UNDOERS: IntentUndoers = {
  import: undoImport,
  open: undoOpen,
  add: undoAdd,
  seal: undoSeal,
  remove: undoRemove,
  mount: undoMount,
  commit: undoUpperMove,
};

/**
 * Finds stale staging dirs and undoes their intent (`stagingNames`: tmp/'s entries when the caller
 * listed them already). Returns what it did so the CLI can say so.
 * A dir whose kind has no undo here (its owner was not registered by this opener) is left for a
 * sweep that knows it: removing it could lose what its undo would restore.
 *
 * @example
 * const swept = sweepLeftovers(ctx, { container: undoContainerCreate }); // [] on a clean store
 */
export function sweepLeftovers(ctx: StoreContext, extra: IntentUndoers = {}, stagingNames?: readonly string[]): SweptItem[] {
  // The snapshot drivers' staging dirs (snapshot-*) are their own sweep's (src/snapshots/snapshot-sweep.ts).
  const stale = findStaleStaging(ctx.layout, ctx.ports, (kind) => !kind.startsWith('snapshot-'), stagingNames);
  if (stale.length === 0) return [];
  const undoers: IntentUndoers = { ...STORE_UNDOERS, ...extra };
  const swept: SweptItem[] = [];
  for (const s of stale) {
    try {
      const intent = s.intent as StoreIntent | null;
      // No intent: the operation died before it touched anything outside tmp/.
      const undo = intent === null ? undefined : undoers[intent.kind] as IntentUndo | undefined;
      if (intent !== null && undo === undefined) continue;
      const restored = intent !== null && undo !== undefined && ctx.db.immediate(() => undo(ctx, s.path, intent));
      fs.rmSync(s.path, { recursive: true, force: true });
      swept.push({ path: s.path, kind: intent?.kind ?? s.kind, action: restored ? 'restored' : 'removed' });
    } finally {
      s.release();
    }
  }
  return swept;
}
