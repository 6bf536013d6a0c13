/**
 * The store's staging kinds and intents over the shared staging protocol (src/staging/staging.ts).
 */
export { Staging, findStaleStaging, stagingOwnerAlive, type StaleStaging } from '../staging/staging.js';

export type StagingKind = 'import' | 'open' | 'add' | 'remove' | 'seal' | 'mount' | 'container' | 'commit';

/** What a staging dir of the store is about to do outside tmp/: enough for a sweeper to undo it. */
export interface StagingIntent {
  readonly kind: StagingKind;
  /** The final directory this operation fills (import, open, seal) or empties (remove). */
  readonly target?: string;
  /** For a seal: where the directory came from (open/<token>), to move it back; for a commit that moves a container's upper: that upper. */
  readonly source?: string;
  /** The row that makes `target` visible: a chainId for sealed layers, an open token, a mount id. */
  readonly chainId?: string;
  readonly openToken?: string;
  readonly mountId?: string;
  /** A container's id (creating containers/<id>, or removing it). */
  readonly containerId?: string;
}
