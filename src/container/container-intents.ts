/**
 * The undo of the container operations' intents, for the store's sweep (store/recovery.ts): a
 * module of its own, light enough to be loaded by every open of a store, so that the store never
 * imports the container code (containers depend on the store, not the reverse).
 */
import * as fs from 'node:fs';
import { containerExists } from '../db/container-queries.js';
import type { StagingIntent } from '../store/staging.js';
import type { IntentUndo, IntentUndoers } from '../store/store-intents.js';
import { removeActive } from '../store/layer-files.js';

/** containers/<id> filled in the transaction that inserts the row: without the row, a leftover. */
export const undoContainerCreate: IntentUndo<Extract<StagingIntent, { kind: 'container' }>> = (ctx, _stagingPath, intent) => {
  if (containerExists(ctx.db, intent.containerId)) return false;
  fs.rmSync(intent.target, { recursive: true, force: true });
  if (intent.snapshot !== undefined) removeActive(ctx, intent.snapshot);
  return false;
};

/** What a store opened for containers registers with its sweep. */
export const CONTAINER_UNDOERS: IntentUndoers = { container: undoContainerCreate };
