/**
 * The stored bytes of an image's metadata blobs (manifest, config, index), read whole and
 * verified: they are small, and everything the image is follows from them.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { ShibafuError, fromSystemError } from '../errors.js';
import type { Digest } from '../ids.js';
import type { StoreContext } from '../store/store-context.js';

/**
 * @example
 * const config = readBlobBytes(ctx, image.configDigest);
 */
export function readBlobBytes(ctx: StoreContext, digest: Digest): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(ctx.layout.blob(digest));
  } catch (err) {
    throw fromSystemError(err, `read blob ${digest}`);
  }
  if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) {
    throw new ShibafuError('DIGEST_MISMATCH', `Cannot read blob ${digest}: its bytes on disk changed`, {
      hint: 'The store was changed behind shibafu; load or pull the image again.',
    });
  }
  return bytes;
}
