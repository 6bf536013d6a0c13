/**
 * The intents of the store's staged operations: one kind per operation, each with exactly what
 * its undo needs, and the undo registered by the module that owns the operation (recovery.ts
 * dispatches on `kind`). The field names are what intent.json files on disk hold: a store left by
 * a killed process is swept by the next version too, so they only ever gain kinds.
 */
import type { Timespec } from '../sys/utimens.js';
import type { StoreContext } from './store-context.js';

export type StoreIntent =
  /**
   * A new layer: its files in the active snapshot `snapshot`, committed, its metadata dir renamed
   * to layers/<hex> and its blobs published in the transaction that inserts its row (layer-commit.ts).
   */
  | { readonly kind: 'import'; readonly snapshot?: string; readonly target?: string; readonly chainId?: string; readonly blobs?: readonly string[] }
  /** An open layer's active snapshot, prepared in the transaction that inserts its row (open-layer.ts). */
  | { readonly kind: 'open'; readonly snapshot: string; readonly openToken: string }
  /**
   * `layer add` copying into `aside`, a directory inside the open layer's snapshot (where that is a
   * file system of its own, so a copy in tmp/ could not be renamed in): removed if left (open-layer.ts).
   */
  | { readonly kind: 'add'; readonly aside: string; readonly root: string; readonly atime: Timespec; readonly mtime: Timespec }
  /** An open layer's snapshot committed, its metadata dir layers/<hex> made, in the transaction that seals its row (open-layer.ts). */
  | { readonly kind: 'seal'; readonly target: string; readonly chainId: string }
  /**
   * A directory moved into the staging dir in the transaction that deletes its row: a layer's, an
   * open layer's or a container's (layer-remove.ts); its snapshot is removed after that row.
   */
  | { readonly kind: 'remove'; readonly target: string; readonly chainId?: string; readonly openToken?: string; readonly containerId?: string; readonly snapshot?: string }
  /** A mount recorded, with its snapshot, before the kernel mount (layer-mounts.ts). */
  | { readonly kind: 'mount'; readonly mountId: string; readonly snapshot?: string }
  /** containers/<id> filled, and its snapshot prepared, in the transaction that inserts the container's row (src/container). */
  | { readonly kind: 'container'; readonly target: string; readonly containerId: string; readonly snapshot?: string }
  /** An image's manifest, config and index published with its rows (src/images/image-record.ts). */
  | { readonly kind: 'image'; readonly blobs: readonly string[] }
  /**
   * A stopped container's snapshot committed as a layer (layer-from-upper.ts): the layer's dir
   * `target`, and `discard`, the name its snapshot is committed under when the content was stored.
   */
  | { readonly kind: 'commit'; readonly target: string; readonly chainId: string; readonly snapshot?: string; readonly discard: string };

export type StoreIntentKind = StoreIntent['kind'];

/**
 * Undoes (or finishes) one interrupted operation; called by the sweep inside a write transaction.
 * Returns true when something was restored rather than deleted.
 */
export type IntentUndo<I extends StoreIntent = StoreIntent> = (ctx: StoreContext, stagingPath: string, intent: I) => boolean;

/** One undo per kind. */
export type IntentUndoers = { readonly [K in StoreIntentKind]?: IntentUndo<Extract<StoreIntent, { kind: K }>> };
