/**
 * `image tag`, `image untag` and `image rm`, as podman's: `rm NAME` of an image with other names
 * only untags it; removing an image drops its manifest, config and index blobs (unless another
 * image has them) and then its layers that nothing else uses (no name, child, container, mount or
 * other image), top first. An image a container was made from is not removed.
 */
import { dropBlob, purgeTrashed, sweepTrash } from '../content/blob-publish.js';
import { blobUsedByImages, containersOfImage, deleteImageName, deleteImageRow, imageById, imageNames, upsertImageName, type ImageRow } from '../db/image-queries.js';
import { layersWithBlob } from '../db/blob-queries.js';
import { ShibafuError } from '../errors.js';
import { shortId, type Digest } from '../ids.js';
import type { StoreContext } from '../store/store-context.js';
import { discardUnpacked } from './image-layers.js';
import { imageName } from './image-names.js';
import { layersOf } from './image-views.js';

export interface ImageRemoval {
  /** Names removed (all of the image's when it was removed). */
  readonly untagged: readonly string[];
  /** The removed image's ID, or null when only a name went. */
  readonly removed: Digest | null;
}

/** Points `name` at the image (moving it from another image). */
export function tagImage(ctx: StoreContext, image: ImageRow, name: string): string {
  const stored = imageName(name);
  ctx.db.immediate(() => {
    if (imageById(ctx.db, image.id) === undefined) throw new ShibafuError('IMAGE_NOT_FOUND', `Cannot tag image ${shortId(image.configDigest)}: it was removed meanwhile`);
    upsertImageName(ctx.db, stored, image.id, ctx.now());
  });
  return stored;
}

/** Removes one name; the image stays (nameless: `<none>`). */
export function untagImage(ctx: StoreContext, image: ImageRow, name: string): string {
  const stored = imageNames(ctx.db, image.id).includes(name) ? name : imageName(name);
  const removed = ctx.db.immediate(() => imageNames(ctx.db, image.id).includes(stored) && deleteImageName(ctx.db, stored));
  if (!removed) throw new ShibafuError('NAME_NOT_FOUND', `Cannot untag "${name}": image ${shortId(image.configDigest)} has no such name`);
  return stored;
}

/**
 * @example
 * removeImage(ctx, 'busybox', resolveImage(ctx.db, 'busybox'), { force: false });
 */
export function removeImage(ctx: StoreContext, ref: string, image: ImageRow, options: { readonly force?: boolean } = {}): ImageRemoval {
  const layers = ctx.db.read(() => layersOf(ctx, image)).map((l) => l.layer);
  let dropped: Digest[] = [];
  let committed = false;
  try {
    const result = ctx.db.immediate((): ImageRemoval => {
      const names = imageNames(ctx.db, image.id);
      const asName = names.includes(ref) ? ref : safeName(ref);
      if (asName !== undefined && names.includes(asName) && names.length > 1) {
        deleteImageName(ctx.db, asName);
        return { untagged: [asName], removed: null };
      }
      if (names.length > 1 && options.force !== true) {
        throw new ShibafuError('IMAGE_IN_USE', `Cannot remove image ${shortId(image.configDigest)}: it has ${names.length} names (${names.join(', ')})`, {
          hint: 'Remove it by one of its names (which only untags it), or all at once with --force.',
        });
      }
      const containers = containersOfImage(ctx.db, image.id);
      if (containers.length > 0) {
        throw new ShibafuError('IMAGE_IN_USE', `Cannot remove image ${names[0] ?? shortId(image.configDigest)}: ${containers.length} container${containers.length > 1 ? 's' : ''} use${containers.length > 1 ? '' : 's'} it (${containers.map((c) => c.name).join(', ')})`, {
          hint: `Remove the container${containers.length > 1 ? 's' : ''} first: shibafu container rm ${containers.map((c) => c.name).join(' ')}`,
        });
      }
      deleteImageRow(ctx.db, image.id);
      const own = [image.manifestDigest, image.configDigest, ...(image.indexDigest === null ? [] : [image.indexDigest])];
      dropped = own.filter((d) => !blobUsedByImages(ctx.db, d, image.id) && layersWithBlob(ctx.db, d) === 0 && dropBlob(ctx, d));
      return { untagged: names, removed: image.configDigest };
    });
    committed = true;
    // Then its layers that nothing else holds (each its own transaction; one in use stays).
    if (result.removed !== null) discardUnpacked(ctx, layers);
    return result;
  } finally {
    if (committed) purgeTrashed(ctx, dropped);
    else if (dropped.length > 0) sweepTrash(ctx);
  }
}

function safeName(ref: string): string | undefined {
  try {
    return imageName(ref);
  } catch {
    return undefined;
  }
}
