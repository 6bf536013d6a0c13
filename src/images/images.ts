/**
 * The images of a store, for the CLI and library users: load, pull, push, save, list, inspect,
 * history, tag, untag, rm. The CLI reaches it through index.ts's `imagesOf(store)`, which loads this module
 * only when a command needs images; load and save load their own code when called.
 */
import { ShibafuError } from '../errors.js';
import type { ChainId, Digest } from '../ids.js';
import type { ImageRunConfig } from '../oci/image-config.js';
import type { StoreContext } from '../store/store-context.js';
import type { LoadedImage, LoadOptions } from './image-load.js';
import { removeImage, tagImage, untagImage, type ImageRemoval } from './image-remove.js';
import { findImage, resolveImage } from './image-resolve.js';
import type { SaveOptions, SaveResult } from './image-save.js';
import type { PullOptions } from './image-pull.js';
import type { PushOptions, PushResult } from './image-push.js';
import type { ImageReference } from '../registry/reference.js';
import { imageConfigOf, imageHistory, inspectImage, layersOf, listImages, type HistoryLine, type ImageDetails, type ImageSummary } from './image-views.js';

export interface Images {
  load(path: string, options?: LoadOptions): Promise<LoadedImage[]>;
  /** `image pull`: from a registry, through the client the caller made for it (credentials, TLS). */
  pull(ref: ImageReference, options: PullOptions): Promise<LoadedImage[]>;
  /** `image push`: to `dest` (default: the image's own name), through the caller's client. */
  push(ref: string, dest: ImageReference, options: PushOptions): Promise<PushResult>;
  list(): ImageSummary[];
  inspect(ref: string): ImageDetails;
  history(ref: string): HistoryLine[];
  tag(ref: string, name: string): string;
  untag(ref: string, name: string): string;
  remove(ref: string, options?: { readonly force?: boolean }): ImageRemoval;
  save(refs: readonly string[], options: SaveOptions): Promise<SaveResult>;
  /** The image's ID (its config digest). */
  idOf(ref: string): Digest;
  /** What `run IMAGE` needs, or null when no image has that name or ID (it may be a layer's). */
  runTarget(ref: string): RunTarget | null;
}

export interface RunTarget {
  readonly imageId: number;
  /** How the user named it (for messages). */
  readonly ref: string;
  /** Its top layer's chainId: the stack a container of it runs on. */
  readonly top: ChainId;
  readonly run: ImageRunConfig;
}

/**
 * @example
 * const images = imagesFacade(store.context);
 * await images.load('/tmp/busybox.tar');
 */
export function imagesFacade(ctx: StoreContext): Images {
  return {
    async load(path, options = {}) {
      const { loadImages } = await import('./image-load.js');
      return loadImages(ctx, path, options);
    },
    async pull(ref, options) {
      const { pullImage } = await import('./image-pull.js');
      return pullImage(ctx, ref, options);
    },
    async push(ref, dest, options) {
      const { pushImage } = await import('./image-push.js');
      return pushImage(ctx, resolveImage(ctx.db, ref), dest, options);
    },
    list: () => listImages(ctx),
    inspect: (ref) => inspectImage(ctx, resolveImage(ctx.db, ref)),
    history: (ref) => imageHistory(ctx, resolveImage(ctx.db, ref)),
    tag: (ref, name) => tagImage(ctx, resolveImage(ctx.db, ref), name),
    untag: (ref, name) => untagImage(ctx, resolveImage(ctx.db, ref), name),
    remove: (ref, options = {}) => removeImage(ctx, ref, resolveImage(ctx.db, ref), options),
    async save(refs, options) {
      const { saveImages } = await import('./image-save.js');
      return saveImages(ctx, refs.map((ref) => ({ ref, image: resolveImage(ctx.db, ref) })), options);
    },
    idOf: (ref) => resolveImage(ctx.db, ref).configDigest,
    runTarget(ref) {
      const image = ctx.db.read(() => findImage(ctx.db, ref));
      if (image === undefined) return null;
      const top = ctx.db.read(() => layersOf(ctx, image)).at(-1)?.layer.chainId;
      if (top === undefined || top === null) {
        throw new ShibafuError('USAGE', `Cannot run image ${ref}: it has no layers, so no root file system`);
      }
      return { imageId: image.id, ref, top, run: imageConfigOf(ctx, image).run };
    },
  };
}
