/**
 * Finishes or undoes the changes of a snapshot driver that a killed process left half-done (the
 * protocol is described in meta-snapshotter.ts). Runs when a snapshotter opens; every decision is
 * taken inside a write transaction, so no live change of another process can be mistaken for a
 * leftover (it would hold the write lock, or its staging dir's flock).
 */
import * as fs from 'node:fs';
import { snapshotById } from '../db/snapshot-queries.js';
import { findStaleStaging } from '../staging/staging.js';
import type { SnapshotterContext } from './meta-snapshotter.js';
import type { SnapshotStorage } from './snapshot-storage.js';

/** The intents of a snapshot driver's changes, one undo each (below). */
export type SnapshotIntent =
  /** A prepare or view: the object is built under `token`; `id` once its row was inserted. */
  | { readonly kind: 'snapshot-prepare'; readonly token: string; readonly id?: number }
  /** A commit of snapshot `id`: its object may be sealed. */
  | { readonly kind: 'snapshot-commit'; readonly id: number }
  /** A removal of snapshot `id`: its object is garbage once the row is gone. */
  | { readonly kind: 'snapshot-remove'; readonly id: number };

export interface SweptSnapshot {
  readonly kind: SnapshotIntent['kind'] | 'unknown';
  readonly action: 'removed' | 'restored' | 'finished';
}

/**
 * Sweeps the stale `snapshot-*` staging dirs of `storage`'s store; `names`: tmp/'s entries when
 * the caller listed them already (listStaging), else it lists them.
 *
 * @example
 * sweepSnapshots(ctx, storage); // [] on a clean store
 */
export function sweepSnapshots(ctx: SnapshotterContext, storage: SnapshotStorage, names?: readonly string[]): SweptSnapshot[] {
  const stale = findStaleStaging(ctx.staging, ctx.locks, (kind) => kind.startsWith('snapshot-'), names);
  const swept: SweptSnapshot[] = [];
  for (const s of stale) {
    try {
      const intent = s.intent as SnapshotIntent | null;
      const action = intent === null ? 'removed' : ctx.db.immediate(() => undo(ctx, storage, intent));
      fs.rmSync(s.path, { recursive: true, force: true });
      swept.push({ kind: intent?.kind ?? 'unknown', action });
    } finally {
      s.release();
    }
  }
  return swept;
}

function undo(ctx: SnapshotterContext, storage: SnapshotStorage, intent: SnapshotIntent): SweptSnapshot['action'] {
  switch (intent.kind) {
    case 'snapshot-prepare': {
      // Published exactly when the row committed; otherwise whatever was built goes, at either name.
      storage.discardStaged(intent.token);
      if (intent.id !== undefined && snapshotById(ctx.db, intent.id) === undefined) storage.destroy(intent.id);
      return 'removed';
    }
    case 'snapshot-commit': {
      const row = snapshotById(ctx.db, intent.id);
      if (row !== undefined && row.kind === 'active') {
        storage.unseal(intent.id);
        return 'restored';
      }
      return 'finished';
    }
    case 'snapshot-remove': {
      if (snapshotById(ctx.db, intent.id) !== undefined) return 'restored';
      storage.destroy(intent.id);
      return 'finished';
    }
  }
}
