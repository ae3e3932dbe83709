import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

/** Mixes several integers into one 32-bit seed (murmur3 finaliser), so (seed, epoch) pairs never collide trivially. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    let k = Math.imul(part | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    // Seeds above 2^32 still contribute their high bits.
    h ^= Math.floor(part / 0x1_0000_0000) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * A seeded random generator (xoroshiro128+ from pure-rand) whose state can be saved in a checkpoint.
 * Everything that needs randomness in the trainer derives it from a seed, so runs repeat exactly.
 */
export class Rng {
  private generator: JumpableRandomGenerator;

  constructor(seed: number) {
    this.generator = xoroshiro128plus(mixSeed(seed));
    // The first outputs of xoroshiro128+ from a tiny seed are weak; discard a few.
    for (let i = 0; i < 16; i++) this.generator.next();
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return uniformFloat64(this.generator);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int needs a positive integer, got ${n}`);
    return uniformInt(this.generator, 0, n - 1);
  }

  /** Standard normal sample (Box–Muller). */
  normal(mean = 0, std = 1): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Uint32Array {
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i]!;
      out[i] = out[j]!;
      out[j] = tmp;
    }
    return out;
  }

  stateDict(): { state: number[] } {
    return { state: [...this.generator.getState()] };
  }

  loadStateDict(state: { state: readonly number[] }): void {
    this.generator = xoroshiro128plusFromState(state.state);
  }
}
