import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { filesystem, type FileSystem } from '@strata/fs-core';
import { pythonPath } from '@strata/test-servers';

import { tensor } from '../src/index.js';

/** A memory filesystem with its own store, so tests do not see each other's files. */
export function privateMemoryFs(): Promise<FileSystem> {
  return filesystem('memory', { store: 'private' });
}

export async function tempDir(prefix = 'strata-ckpt-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface ReadStats {
  /** Bytes returned by every read method. */
  bytesRead: number;
  /** Individual range requests ([start, end) as asked). */
  ranges: [number, number | undefined][];
  /** Calls of cat / catRanges / open('rb'). */
  calls: { cat: number; catRanges: number; openRead: number };
  /** Write handles open at once per path, at most. */
  maxConcurrentWrites: Map<string, number>;
  /** Write handles open at once on any path, at most. */
  maxConcurrentWritesOverall: number;
  /** Paths of the write handles that committed, in commit order. */
  commits: string[];
}

/**
 * Wraps a filesystem and records what goes through it: bytes read, ranges asked for, and how many
 * write handles were open on one path at the same time.
 */
export function instrumentedFs(inner: FileSystem): { fs: FileSystem; stats: ReadStats } {
  const stats: ReadStats = { bytesRead: 0, ranges: [], calls: { cat: 0, catRanges: 0, openRead: 0 }, maxConcurrentWrites: new Map(), maxConcurrentWritesOverall: 0, commits: [] };
  let openOverall = 0;
  const openWrites = new Map<string, number>();
  const fs = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'cat') {
        return async (path: string, options?: { start?: number; end?: number }) => {
          stats.calls.cat++;
          stats.ranges.push([options?.start ?? 0, options?.end]);
          const out = await target.cat(path, options);
          stats.bytesRead += out.length;
          return out;
        };
      }
      if (prop === 'catRanges') {
        return async (paths: string[], starts: number[], ends: number[], options?: object) => {
          stats.calls.catRanges++;
          starts.forEach((s, i) => stats.ranges.push([s, ends[i]]));
          const out = await target.catRanges(paths, starts, ends, options);
          for (const chunk of out) stats.bytesRead += chunk.length;
          return out;
        };
      }
      if (prop === 'open') {
        return async (path: string, mode: 'rb' | 'wb' | 'xb', options?: object) => {
          if (mode === 'rb') {
            stats.calls.openRead++;
            return target.open(path, mode, options);
          }
          const handle = await target.open(path, mode, options);
          const now = (openWrites.get(path) ?? 0) + 1;
          openWrites.set(path, now);
          stats.maxConcurrentWrites.set(path, Math.max(now, stats.maxConcurrentWrites.get(path) ?? 0));
          openOverall++;
          stats.maxConcurrentWritesOverall = Math.max(stats.maxConcurrentWritesOverall, openOverall);
          let closed = false;
          const close = () => {
            if (!closed) {
              openWrites.set(path, openWrites.get(path)! - 1);
              openOverall--;
            }
            closed = true;
          };
          return new Proxy(handle, {
            get(h, p) {
              if (p === 'commit' || p === 'abort') {
                return async () => {
                  try {
                    await h[p].call(h);
                    if (p === 'commit') stats.commits.push(path);
                  } finally {
                    close();
                  }
                };
              }
              const v = Reflect.get(h, p, h);
              return typeof v === 'function' ? v.bind(h) : v;
            },
          });
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { fs, stats };
}

/**
 * Wraps a filesystem so its write handles call `beforeWrite(chunk)` before each write; with
 * `hidePatch` they also look unable to patch, as a GCS handle does.
 */
export function watchedWrites(inner: FileSystem, beforeWrite: (chunk: Uint8Array) => void, options: { hidePatch?: boolean } = {}): FileSystem {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop !== 'open') return Reflect.get(target, prop, target);
      return async (path: string, mode: 'wb' | 'xb') => {
        const handle = await target.open(path, mode);
        return new Proxy(handle, {
          get(h, q) {
            if (q === 'patch' && options.hidePatch) return undefined;
            if (q === 'write') {
              return (chunk: Uint8Array) => {
                beforeWrite(chunk);
                return h.write(chunk);
              };
            }
            const v = Reflect.get(h, q, h);
            return typeof v === 'function' ? v.bind(h) : v;
          },
        });
      };
    },
  });
}

/** Deterministic pseudo-random bytes. */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A checkpoint with every kind of value the format stores. */
export function richCheckpoint() {
  const weight = tensor('F32', [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]));
  return {
    epoch: 3,
    global_step: 12_345,
    state_dict: {
      'encoder.weight': weight,
      'encoder.bias': tensor('F64', [3], [0.5, -0.25, 1e-300]),
      'embed.half': tensor('F16', [4], [1, -2, 0.5, 65504]),
      'embed.brain': tensor('BF16', [2], [3.140625, -1]),
      counts: tensor('I64', [2], [1n, -(2n ** 62n)]),
      mask: tensor('BOOL', [3], [true, false, true]),
      bytes: tensor('U8', [2], [0, 255]),
      small: tensor('I8', [2], [-128, 127]),
      mid: tensor('I16', [1], [-32768]),
      ints: tensor('I32', [2, 2], [1, 2, 3, -4]),
      scalar: tensor('F32', [], [42]),
      empty: tensor('F32', [0, 5]),
    },
    optimizer_states: [{ step: 7, lr: 1e-3, exp_avg: [tensor('F32', [2], [0.1, 0.2]), tensor('F32', [2], [0.3, 0.4])] }],
    specials: { nan: NaN, inf: Infinity, ninf: -Infinity, negzero: -0, big: 2n ** 70n, nbig: -5n, undef: undefined, nul: null },
    when: new Date('2024-05-06T07:08:09.010Z'),
    invalidDate: new Date(NaN),
    map: new Map<unknown, unknown>([
      ['a', 1],
      [2, 'two'],
      ['t', tensor('I32', [1], [9])],
    ]),
    set: new Set<unknown>([1, 'x', 3n]),
    typed: { f32: new Float32Array([1.5, 2.5]), u16: new Uint16Array([1, 65535]), i64: new BigInt64Array([-1n]), nested: [[new Uint8Array([1, 2, 3])]] },
    views: { dv: new DataView(new Uint8Array([9, 8, 7]).buffer), ab: new Uint8Array([4, 5]).buffer, clamped: new Uint8ClampedArray([250]), buf: Buffer.from('hi') },
    dollar: { $ref: 'not a tag', plain: { $tensor: 'also not a tag' } },
    'dotted.key': { 'a~b.c': tensor('U8', [1], [7]) },
    hyperparameters: { name: 'run-1', layers: [64, 64], flags: { amp: true } },
    unicode: { 'ключ': 'значение', emoji: '😀', lone: '\ud800' },
  };
}

/** The test venv's python; in CI a missing venv fails the run instead of skipping. */
export function findPython(): string | undefined {
  try {
    return pythonPath();
  } catch (error) {
    if (process.env.CI) throw error;
    return undefined;
  }
}
