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
          testTimeout: 60_000,
        },
      },
      {
        // Exact resume, top-k, 'last'/'best' against the loopback S3 server (MinIO).
        test: {
          name: 's3',
          include: ['test/s3/*.test.ts'],
          globalSetup: [testServersSetup],
          provide: { testServers: 's3' },
          testTimeout: 120_000,
          hookTimeout: 120_000,
          teardownTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
