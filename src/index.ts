/**
 * shibafu's library API: a layer store on overlayfs.
 *
 * @example
 * import { openStore } from 'shibafu';
 * const store = openStore({ root: '/var/lib/shibafu' });
 * await store.createLayer({ name: 'base', source: 'rootfs.tar.gz' });
 * await store.mountLayers({ layers: ['base'], target: '/mnt/base' });
 */
export { openStore, Store } from './store/store.js';
export type { OpenStoreOptions, CreateLayerOptions, CreateLayerResult, MountLayersOptions } from './store/store.js';
export type { LayerSummary, LayerDetails } from './store/layer-views.js';
export type { MountView } from './store/layer-mounts.js';
export { OVERLAY_MAX_STACK } from './store/layer-mounts.js';
export type { RemoveResult } from './store/layer-remove.js';
export type { SweptItem } from './store/recovery.js';
export type { ImportLimits } from './store/store-context.js';
export { DEFAULT_LIMITS } from './store/store-context.js';
export type { ImportProgress } from './store/layer-import.js';
export type { CopyStats } from './store/copy-tree.js';
export { DEFAULT_ROOT } from './store/layout.js';
export { ShibafuError, ERROR_CODES, isShibafuError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { chainIdOf, sha256Digest, parseDigest, asDiffId, asChainId, shortId } from './ids.js';
export type { Digest, DiffId, ChainId } from './ids.js';
export { splitArchivePath, classifyWhiteout, isForbiddenXattr } from './tar/path-safety.js';
export { toApplyOp } from './tar/apply-op.js';
export type { ApplyOp } from './tar/apply-op.js';
