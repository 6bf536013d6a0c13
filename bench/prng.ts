/**
 * Deterministic randomness for fixtures: the same seed gives the same trees, byte for byte, on
 * every machine, so cached fixtures and figures from different runs describe the same archives.
 */
import { createCipheriv, createHash } from 'node:crypto';

/**
 * A small seeded PRNG (splitmix32) for structure decisions: sizes, names, tree shape.
 *
 * @example
 * const rng = new Prng('mixed-v1'); rng.int(0, 4096);
 */
export class Prng {
  #state: number;

  constructor(seed: string) {
    this.#state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x9e3779b9) | 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/**
 * A seeded byte stream (AES-128-CTR over zeros): incompressible, fast (GB/s), deterministic.
 *
 * @example
 * const bytes = new ByteSource('large-0'); bytes.take(1 << 20);
 */
export class ByteSource {
  readonly #cipher;
  static readonly #ZEROS = Buffer.alloc(1 << 20);

  constructor(seed: string) {
    const key = createHash('sha256').update(seed).digest();
    this.#cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  }

  take(n: number): Buffer {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const k = Math.min(left, ByteSource.#ZEROS.length);
      parts.push(this.#cipher.update(ByteSource.#ZEROS.subarray(0, k)));
      left -= k;
    }
    return parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts);
  }
}
