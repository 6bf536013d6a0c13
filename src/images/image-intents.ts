/**
 * The undo of the image operations' intents, for the store's sweep (store/recovery.ts): light
 * enough to be loaded by every open of a store, as container-intents.ts is.
 */
import { removeUnpublishedBlob } from '../content/blob-publish.js';
import type { Digest } from '../ids.js';
import type { StagingIntent } from '../store/staging.js';
import type { IntentUndo, IntentUndoers } from '../store/store-intents.js';

/** Blob files an image's transaction published but never committed (image-record.ts). */
export const undoImageRecord: IntentUndo<Extract<StagingIntent, { kind: 'image' }>> = (ctx, _stagingPath, intent) => {
  for (const digest of intent.blobs) if (/^sha256:[0-9a-f]{64}$/.test(digest)) removeUnpublishedBlob(ctx, digest as Digest);
  return false;
};

/** What a store opened for images registers with its sweep. */
export const IMAGE_UNDOERS: IntentUndoers = { image: undoImageRecord };
