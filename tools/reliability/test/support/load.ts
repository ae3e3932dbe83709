/**
 * Many concurrent writers and readers on ONE filesystem instance, through a fault proxy, bounded by
 * time and by operation count. Every read is checked against the SHA-256 of what was written.
 */
import { createHash } from 'node:crypto';

import type { FileSystem } from '@strata/fs-core';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

import { ALL_FAULTS, type FaultProxy, type FaultProxyStats } from '../../src/fault-proxy.js';
import { makeFs, probe, startProxy, uniqueName, type BackendName } from './backends.js';
import { block } from './fault-suite.js';
import { faultRetry } from './faults.js';
import { countFds, memoryTrend, sampleMemory, settle, socketsTo, type FdCount } from './resources.js';

export interface LoadOptions {
  backend: BackendName;
  seconds: number;
  /** Stop earlier once this many operations ran. */
  maxOps: number;
  workers: number;
  /** Share of requests the proxy fails at random. */
  faultRate: number;
  seed: number;
}

export interface LoadFigures {
  backend: BackendName;
  seconds: number;
  workers: number;
  operations: Record<string, number>;
  totalOperations: number;
  bytesWritten: number;
  bytesVerified: number;
  errors: number;
  errorSamples: string[];
  faults: FaultProxyStats['faults'];
  injected: number;
  requests: number;
  fdsBefore: FdCount;
  fdsAfter: FdCount;
  /** Client sockets still open to the proxy right after fs.close() (a filesystem that keeps its pool open shows here). */
  socketsLeftAfterClose: number;
  memory: ReturnType<typeof memoryTrend> & { samples: number };
}

interface Entry {
  path: string;
  size: number;
  sha256: string;
  readers: number;
  retiring: boolean;
}

const KiB = 1024;
const FILES_PER_WORKER = 6;
const SIZES = [1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 200 * KiB];

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** One pass of every operation kind, so lazily loaded modules and one-time handles exist before counting. */
async function warmUp(backend: BackendName, bucket: string): Promise<void> {
  const proxy = await startProxy(backend, [], 1);
  const fs = makeFs(backend, { origin: proxy.url, retry: faultRetry(1) });
  const path = `${bucket}/warmup/x`;
  await fs.pipe(path, block(70 * KiB, 1));
  await fs.cat(path);
  await fs.cat(path, { start: 10, end: 100 });
  await fs.info(path);
  await fs.ls(`${bucket}/warmup`);
  const handle = await fs.open(path, 'rb');
  await handle.read(1000);
  await handle.close();
  await fs.rm(path);
  await fs.close();
  await proxy.close();
}

export async function runLoad(options: LoadOptions): Promise<LoadFigures> {
  const server = probe(options.backend);
  const bucket = uniqueName(`rel-load-${options.backend}`);
  await server.createBucket(bucket);
  try {
    await warmUp(options.backend, bucket);
    // The baseline is taken once the warm-up's sockets have finished closing (the count holds still for a second).
    let previous = countFds();
    const stableUntil = Date.now() + 10_000;
    for (let stableFor = 0; stableFor < 1_000 && Date.now() < stableUntil; ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const now = countFds();
      stableFor = now.fds === previous.fds && now.sockets === previous.sockets ? stableFor + 200 : 0;
      previous = now;
    }
    const fdsBefore = countFds();
    const memory = sampleMemory(500);

    const proxy: FaultProxy = await startProxy(options.backend, [{ name: 'random', rate: options.faultRate, fault: ALL_FAULTS }], options.seed, 10_000);
    const proxyPort = Number(new URL(proxy.url).port);
    const fs: FileSystem = makeFs(options.backend, { origin: proxy.url, retry: faultRetry(options.seed, 3_000) });

    const rng = xoroshiro128plus(options.seed);
    const random = () => uniformFloat64(rng);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const operations: Record<string, number> = {};
    const count = (op: string) => (operations[op] = (operations[op] ?? 0) + 1);
    const errorSamples: string[] = [];
    let errors = 0;
    let bytesWritten = 0;
    let bytesVerified = 0;
    let total = 0;
    const readable: Entry[] = [];
    const deadline = Date.now() + options.seconds * 1000;
    const mismatch = (what: string, entry: Entry, got: Uint8Array, expected?: Uint8Array) => {
      throw new Error(`${what} of ${entry.path}: ${got.length} bytes, sha256 ${sha256(got).slice(0, 12)}; expected ${expected?.length ?? entry.size} bytes`);
    };

    const readOne = async (entry: Entry, ranged: boolean) => {
      entry.readers += 1;
      try {
        if (ranged && entry.size > 2) {
          const start = Math.floor(random() * (entry.size - 1));
          const end = start + 1 + Math.floor(random() * (entry.size - start - 1));
          const got = await fs.cat(entry.path, { start, end });
          // Ranges are checked against the regenerated content of the whole file.
          const whole = block(entry.size, Number(entry.path.split('-seed')[1]));
          const want = whole.subarray(start, end);
          if (got.length !== want.length || sha256(got) !== sha256(want)) mismatch('range read', entry, got, want);
          bytesVerified += got.length;
        } else {
          const got = await fs.cat(entry.path);
          if (got.length !== entry.size || sha256(got) !== entry.sha256) mismatch('read', entry, got);
          bytesVerified += got.length;
        }
      } finally {
        entry.readers -= 1;
      }
    };

    const worker = async (id: number) => {
      const own: Entry[] = [];
      let seq = 0;
      while (Date.now() < deadline && total < options.maxOps) {
        total += 1;
        const roll = random();
        try {
          if (roll < 0.4 || readable.length < options.workers) {
            count('write');
            const seed = id * 1_000_000 + seq;
            const size = pick(SIZES);
            const data = block(size, seed);
            const entry: Entry = { path: `${bucket}/load/w${id}/f${seq++}-seed${seed}`, size, sha256: sha256(data), readers: 0, retiring: false };
            await fs.pipe(entry.path, data, { mode: roll < 0.05 ? 'create' : 'overwrite' });
            bytesWritten += size;
            own.push(entry);
            readable.push(entry);
            if (own.length > FILES_PER_WORKER) {
              count('rm');
              const old = own.shift()!;
              old.retiring = true;
              readable.splice(readable.indexOf(old), 1);
              while (old.readers > 0) await new Promise((resolve) => setTimeout(resolve, 5));
              await fs.rm(old.path);
            }
          } else if (roll < 0.75) {
            count('read');
            await readOne(pick(readable), false);
          } else if (roll < 0.85) {
            count('range read');
            await readOne(pick(readable), true);
          } else if (roll < 0.92) {
            count('info');
            const entry = pick(readable);
            entry.readers += 1;
            try {
              const info = await fs.info(entry.path);
              if (info.size !== entry.size) throw new Error(`info of ${entry.path}: size ${info.size}, expected ${entry.size}`);
            } finally {
              entry.readers -= 1;
            }
          } else {
            count('ls');
            const listed = await fs.ls(`${bucket}/load/w${id}`);
            const names = new Set(listed.map((e) => e.name));
            for (const entry of own) if (!names.has(entry.path)) throw new Error(`ls of w${id} misses ${entry.path}`);
          }
        } catch (error) {
          errors += 1;
          if (errorSamples.length < 10) errorSamples.push(`${(error as Error).constructor.name}: ${(error as Error).message}`);
        }
      }
    };

    await Promise.all(Array.from({ length: options.workers }, (_, i) => worker(i)));
    const stats = structuredClone(proxy.stats);
    memory.stop();
    await fs.close();
    // A filesystem that releases its pool on close leaves no client socket to the proxy.
    await settle(() => socketsTo(proxyPort) === 0, 3_000);
    const socketsLeftAfterClose = socketsTo(proxyPort);
    await proxy.close();
    await settle(() => {
      const now = countFds();
      return now.fds <= fdsBefore.fds && now.sockets <= fdsBefore.sockets;
    }, 10_000);
    const fdsAfter = countFds();
    return {
      backend: options.backend,
      seconds: options.seconds,
      workers: options.workers,
      operations,
      totalOperations: Object.values(operations).reduce((a, b) => a + b, 0),
      bytesWritten,
      bytesVerified,
      errors,
      errorSamples,
      faults: stats.faults,
      injected: stats.injected,
      requests: stats.requests,
      fdsBefore,
      fdsAfter,
      socketsLeftAfterClose,
      memory: { ...memoryTrend(memory.samples), samples: memory.samples.length },
    };
  } finally {
    await server.destroyBucket(bucket).catch(() => undefined);
    server.close();
  }
}
