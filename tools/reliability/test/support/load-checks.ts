import { describe, expect, it } from 'vitest';

import { BACKENDS } from './backends.js';
import { runLoad, type LoadFigures } from './load.js';
import { report } from './report.js';

const MiB = 1024 * 1024;

/**
 * One load run per backend: `workers` concurrent writers and readers on one filesystem instance for
 * `seconds` (or `maxOps` operations), `faultRate` of requests failed by the proxy. Checks: no error
 * reached a caller, every read matched its SHA-256, fd and socket counts back to the baseline, and
 * (for runs long enough to tell) memory flat from the first to the last quarter.
 */
export function describeLoad(title: string, options: { seconds: number; maxOps: number; workers: number; faultRate: number; checkMemory: boolean }): void {
  describe(title, () => {
    for (const backend of BACKENDS) {
      it(`${backend}: ${options.workers} writers and readers for ${options.seconds} s`, { timeout: (options.seconds + 120) * 1000 }, async () => {
        const figures: LoadFigures = await runLoad({ backend, seed: 31, ...options });
        report(`load-${options.seconds}s/${backend}`, { ...figures });
        // Soft: one run reports every check that failed, not just the first.
        expect.soft(figures.errorSamples, `errors that reached a caller (${figures.errors} in all)`).toEqual([]);
        expect.soft(figures.totalOperations).toBeGreaterThan(options.workers * 2);
        expect.soft(figures.injected, 'faults were injected').toBeGreaterThan(0);
        expect.soft(figures.bytesVerified).toBeGreaterThan(0);
        expect.soft(figures.socketsLeftAfterClose, 'client sockets left open after fs.close()').toBe(0);
        expect.soft(figures.fdsAfter.sockets, 'open sockets: end vs start').toBeLessThanOrEqual(figures.fdsBefore.sockets);
        expect.soft(figures.fdsAfter.fds, 'open file descriptors: end vs start').toBeLessThanOrEqual(figures.fdsBefore.fds);
        if (options.checkMemory) {
          const m = figures.memory;
          expect.soft(m.lastQuartileHeap, 'live heap, last quarter vs first').toBeLessThanOrEqual(m.firstQuartileHeap * 1.5 + 16 * MiB);
          expect.soft(m.lastQuartileRss, 'RSS, last quarter vs first').toBeLessThanOrEqual(m.firstQuartileRss * 1.3 + 64 * MiB);
        }
      });
    }
  });
}
