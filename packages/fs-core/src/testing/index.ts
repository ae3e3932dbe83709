import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from 'vitest';

import { registerForeignObjectCases } from './cases/foreign.js';
import { registerIoCases } from './cases/io.js';
import { registerListingCases } from './cases/listing.js';
import { registerMetadataCases } from './cases/metadata.js';
import { registerRobustnessCases } from './cases/robustness.js';
import { registerTransferCases } from './cases/transfer.js';
import { Harness, type CaseRegistrar, type DescribeFileSystemOptions, type FileSystemUnderTest } from './harness.js';

export type { DescribeFileSystemOptions, FileSystemUnderTest } from './harness.js';
export { expectFsError, expectSameBytes, expectSaneProgress, pseudoRandomBytes } from './harness.js';
export { scriptedBody } from './bodies.js';
export { listenOnLoopback } from './loopback.js';
export type { LoopbackServer } from './loopback.js';

/**
 * Registers the FileSystem behaviour suite with vitest. Every backend runs it unchanged against
 * its real store. `setup` runs once for the suite and must give a fresh, empty `base`; each test
 * works in its own directory below it. Tests that need a capability the backend lacks are
 * skipped with the reason in their name (`[needs emptyDirectories]`).
 *
 * ```ts
 * describeFileSystem('memory', async () => ({ fs: await filesystem('memory', { store: 'private' }), base: '/suite' }));
 * ```
 */
export function describeFileSystem(
  name: string,
  setup: () => Promise<FileSystemUnderTest>,
  options: DescribeFileSystemOptions = {},
): void {
  describe(`FileSystem conformance: ${name}`, () => {
    const harness = new Harness(options);
    beforeAll(() => harness.start(setup), harness.timeout());
    afterAll(() => harness.stop(), harness.timeout());
    beforeEach(() => harness.beginTest());
    afterEach(() => harness.endTest());

    const register: CaseRegistrar = (caseName, body, caseOptions = {}) => {
      const needs = caseOptions.needs ?? [];
      const without = caseOptions.without ?? [];
      const labels = [...needs.map((cap) => `needs ${cap}`), ...without.map((cap) => `only without ${cap}`)];
      const fullName = labels.length > 0 ? `${caseName} [${labels.join('; ')}]` : caseName;
      it(
        fullName,
        async (context) => {
          const caps = harness.caps;
          const missing = needs.filter((cap) => !caps[cap]);
          context.skip(missing.length > 0, `backend lacks ${missing.join(', ')}`);
          // An override can hide a capability but not remove the code behind it: check both.
          const present = without.filter((cap) => caps[cap] || harness.fs.capabilities[cap]);
          context.skip(present.length > 0, `backend has ${present.join(', ')}`);
          await body({ skip: (reason) => context.skip(reason) });
        },
        harness.timeout(caseOptions.timeoutFactor ?? 1),
      );
    };

    describe('metadata', () => registerMetadataCases(harness, register));
    describe('listing', () => registerListingCases(harness, register));
    describe('reading and writing', () => registerIoCases(harness, register));
    describe('transfers', () => registerTransferCases(harness, register));
    describe('robustness', () => registerRobustnessCases(harness, register));
    describe('objects other tools write', () => registerForeignObjectCases(harness, register));
  });
}
export { describeReadmeExamples, extractTypeScriptBlocks } from './readme.js';
export type { ReadmeExampleOptions } from './readme.js';

/**
 * A script that range-reads a URL as the checkpoint loader does and prints its peak RSS beyond the
 * loaded bytes as JSON (`{ baseline, peak, loaded, extra, sha256 }`). Run it with
 * `node --expose-gc` and the env STRATA_URL, STRATA_OPTIONS (JSON), RANGE_MIB, IN_FLIGHT.
 */
export const RANGE_READ_RSS_SCRIPT = fileURLToPath(new URL('./range-read-rss.js', import.meta.url));
