import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const testServersSetup = createRequire(import.meta.url).resolve('@strata/test-servers/vitest-setup');

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Round trips and crash safety against the loopback S3/GCS/Azure servers.
        test: {
          name: 'cloud',
          include: ['test/cloud/*.test.ts'],
          globalSetup: [testServersSetup],
          provide: { testServers: 's3,gcs,azure' },
          testTimeout: 300_000,
          hookTimeout: 180_000,
          teardownTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
