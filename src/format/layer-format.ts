/**
 * The on-disk format a layer directory is in, chosen once by the caller that owns the layers (the
 * store, after its snapshot driver) and handed to the applier, the packers, the walks and the copies:
 *
 *  - `overlay` (overlay-format.ts): the layer dir holds only the layer's changes, deletions as
 *    whiteouts and opaque dirs, and the kernel merges the stack (the `overlay` and
 *    `fuse-overlayfs` drivers);
 *  - `dir` (dir-format.ts): the layer dir holds the layer's FULL tree, its parent's snapshot with
 *    the changes applied and deletions carried out (the `btrfs` and `zfs` snapshot drivers, which
 *    mount one directory and no stack).
 */
import { DEFAULT_OVERLAY_NAMESPACE, type OverlayNamespace } from './overlay-format.js';

export interface OverlayLayerFormat {
  readonly kind: 'overlay';
  /** Where the opaque mark is written (readers accept both). */
  readonly namespace: OverlayNamespace;
}

export interface DirLayerFormat {
  readonly kind: 'dir';
}

export type LayerFormat = OverlayLayerFormat | DirLayerFormat;

/** The store's format: overlay, marks in the trusted namespace (the store runs as root). */
export const OVERLAY_LAYER_FORMAT: OverlayLayerFormat = { kind: 'overlay', namespace: DEFAULT_OVERLAY_NAMESPACE };

/** Full trees with real deletions, for snapshot drivers. */
export const DIR_LAYER_FORMAT: DirLayerFormat = { kind: 'dir' };

/**
 * The format of a name, as a store's configuration or a driver spells it.
 *
 * @example
 * layerFormat('dir') // { kind: 'dir' }
 * layerFormat('overlay', 'user') // { kind: 'overlay', namespace: 'user' } (rootless, userxattr)
 */
export function layerFormat(kind: LayerFormat['kind'], namespace: OverlayNamespace = DEFAULT_OVERLAY_NAMESPACE): LayerFormat {
  if (kind === 'dir') return DIR_LAYER_FORMAT;
  return namespace === DEFAULT_OVERLAY_NAMESPACE ? OVERLAY_LAYER_FORMAT : { kind: 'overlay', namespace };
}
