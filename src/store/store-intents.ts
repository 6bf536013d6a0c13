/**
 * The intents of the store's staged operations: one kind per operation, each with exactly what
 * its undo needs, and the undo registered by the module that owns the operation (recovery.ts
 * dispatches on `kind`). The field names are what intent.json files on disk hold: a store left by
 * a killed process is swept by the next version too, so they only ever gain kinds.
 */
import type { StoreContext } from './store-context.js';

export type StoreIntent =
  /**
   * A staged layer renamed to layers/<hex> in the transaction that inserts its row, with the blobs
   * published in it (layer-commit.ts).
   */
  | { readonly kind: 'import'; readonly target: string; readonly chainId: string; readonly blobs?: readonly string[] }
  /** An empty open layer renamed to open/<token> in the transaction that inserts its row (open-layer.ts). */
  | { readonly kind: 'open'; readonly target: string; readonly openToken: string }
  /** open/<token> renamed to layers/<hex> in the transaction that seals its row (open-layer.ts). */
  | { readonly kind: 'seal'; readonly target: string; readonly source: string; readonly chainId: string }
  /**
   * A directory moved into the staging dir in the transaction that deletes its row: a layer's, an
   * open layer's or a container's (layer-remove.ts).
   */
  | { readonly kind: 'remove'; readonly target: string; readonly chainId?: string; readonly openToken?: string; readonly containerId?: string }
  /** A mount recorded before the mount(2) (layer-mounts.ts); its upper under mounts/<id> if writable. */
  | { readonly kind: 'mount'; readonly target: string; readonly mountId: string }
  /** containers/<id> filled in the transaction that inserts the container's row (src/container). */
  | { readonly kind: 'container'; readonly target: string; readonly containerId: string }
  /** A container's upper moved into layers/<hex> by a commit (layer-from-upper.ts). */
  | { readonly kind: 'commit'; readonly target: string; readonly source: string; readonly chainId: string; readonly containerId: string };

export type StoreIntentKind = StoreIntent['kind'];

/**
 * Undoes (or finishes) one interrupted operation; called by the sweep inside a write transaction.
 * Returns true when something was restored rather than deleted.
 */
export type IntentUndo<I extends StoreIntent = StoreIntent> = (ctx: StoreContext, stagingPath: string, intent: I) => boolean;

/** One undo per kind. */
export type IntentUndoers = { readonly [K in StoreIntentKind]?: IntentUndo<Extract<StoreIntent, { kind: K }>> };
