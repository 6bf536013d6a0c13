/**
 * Random bytes for unique names (staging dirs, mount ids, container ids), with node:crypto loaded
 * on first use rather than at start: read-only commands (layer list, ps, inspect) never need it,
 * and loading it, with the stream modules it brings, is ~25 of Node's internal modules.
 */
import type { randomBytes as RandomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

let source: typeof RandomBytes | undefined;

/**
 * `n` cryptographically random bytes.
 *
 * @example
 * const token = randomBytes(8).toString('hex');
 */
export function randomBytes(n: number): Buffer {
  source ??= (createRequire(import.meta.url)('node:crypto') as { randomBytes: typeof RandomBytes }).randomBytes;
  return source(n);
}
