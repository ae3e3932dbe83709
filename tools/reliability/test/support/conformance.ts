import { describeFileSystem } from '@strata/fs-core/testing';
import { describe, expect, it } from 'vitest';

import type { FaultProxy, FaultProxyStats } from '../../src/fault-proxy.js';
import { makeFs, probe, startProxy, uniqueName, type BackendName } from './backends.js';
import { FAST_FAULTS, faultRetry, STALL_MS } from './faults.js';
import { report } from './report.js';
import { reportStrayAborts, watchRetries } from './retries.js';

/**
 * The whole fs-core conformance suite with the filesystem pointed through a FaultProxy that fails
 * `rate` of all requests at random (fixed seed), with every kind of fault the proxy has.
 */
export function describeConformanceUnderFaults(name: BackendName, rate = 0.1, seed = 8): void {
  let stats: FaultProxyStats | undefined;
  const title = `${name} conformance through the fault proxy (${Math.round(rate * 100)}% random faults, seed ${seed})`;
  describeFileSystem(
    title,
    async () => {
      const server = probe(name);
      const bucket = uniqueName(`rel-conf-${name}`);
      await server.createBucket(bucket);
      // `rate` of all requests fail: 95% of those spread evenly over the eight quick faults, 5% stall
      // until the 2 s per-try timeout (a stall costs a timeout, so it is kept rarer to bound the runtime).
      const proxy: FaultProxy = await startProxy(
        name,
        [
          { name: 'stall', rate: rate * 0.05, fault: 'stall' },
          { name: 'random', rate: (rate * 0.95) / (1 - rate * 0.05), fault: FAST_FAULTS },
        ],
        seed,
        STALL_MS,
      );
      const fs = makeFs(name, { origin: proxy.url, retry: faultRetry(seed, 2_000) });
      watchRetries(fs);
      return {
        fs: reportStrayAborts(fs),
        base: `${bucket}/run`,
        teardown: async () => {
          stats = structuredClone(proxy.stats);
          await fs.close();
          await proxy.close();
          await server.destroyBucket(bucket);
          server.close();
        },
      };
    },
    // Under 10% faults a 1,000-file test retries hundreds of requests; fake-gcs-server also slows as it fills.
    { slow: true, timeoutMs: 360_000, patch: name === 'gcs' ? 'none' : 'first-part' },
  );

  describe(`${title}: figures`, () => {
    it('injected faults of every kind while the suite passed', () => {
      expect(stats, 'the suite ran').toBeDefined();
      report(`conformance-under-faults/${name}`, { rate, seed, requests: stats!.requests, injected: stats!.injected, faults: stats!.faults, upstreamErrors: stats!.upstreamErrors });
      expect(stats!.injected).toBeGreaterThan(50);
      expect(stats!.injected / stats!.requests).toBeGreaterThan(rate / 2);
      expect(Object.keys(stats!.faults).length, 'kinds of fault injected').toBeGreaterThanOrEqual(8);
      expect(stats!.faults['stall'] ?? 0, 'stalls past the per-try timeout').toBeGreaterThan(0);
      expect(stats!.upstreamErrors).toBe(0);
    });
  });
}
