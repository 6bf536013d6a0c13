/**
 * The store's use of the shared staging protocol (src/staging/staging.ts): its intents are the
 * StoreIntent union (store-intents.ts).
 */
export { Staging, findStaleStaging, listStaging, stagingOwnerAlive, type StaleStaging } from '../staging/staging.js';
export type { StoreIntent as StagingIntent } from './store-intents.js';
