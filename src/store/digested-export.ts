/**
 * The part every layer export shares, whatever its bytes come from (a packed or replayed tar, or a
 * blob kept as it came): its digest and size, counted as the bytes are written.
 */
import { createHash } from 'node:crypto';
import { ShibafuError } from '../errors.js';
import type { Digest } from '../ids.js';
import type { ExportResult, LayerExport } from './layer-export.js';

/**
 * An export of `chunks`, hashed and counted as they are written; `result` gets their digest and
 * size once they are drained. `onSize` hears the running size.
 *
 * @example
 * digestedExport(blobChunks, (digest, size) => ({ ...rest, digest, size }))
 */
export function digestedExport(chunks: AsyncIterable<Buffer>, result: (digest: Digest, size: number) => ExportResult, onSize?: (size: number) => void): LayerExport {
  const hash = createHash('sha256');
  let size = 0;
  let done = false;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      hash.update(chunk);
      size += chunk.length;
      onSize?.(size);
      yield chunk;
    }
    done = true;
  }
  return {
    chunks: counted(),
    result() {
      if (!done) throw new ShibafuError('INTERNAL', 'Cannot read the export result before the export is written');
      return result(`sha256:${hash.digest('hex')}` as Digest, size);
    },
  };
}
