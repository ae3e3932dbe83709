import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { filesystem, type FileSystem } from '@strata/fs-core';

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
}

/**
 * Wraps a filesystem and records what goes through it: bytes read, ranges asked for, and how many
 * write handles were open on one path at the same time.
 */
export function instrumentedFs(inner: FileSystem): { fs: FileSystem; stats: ReadStats } {
  const stats: ReadStats = { bytesRead: 0, ranges: [], calls: { cat: 0, catRanges: 0, openRead: 0 }, maxConcurrentWrites: new Map(), maxConcurrentWritesOverall: 0 };
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
                    await (h[p] as () => Promise<void>).call(h);
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
