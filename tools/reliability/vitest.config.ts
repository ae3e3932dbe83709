import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // MinIO, fake-gcs-server and Azurite on loopback, started once for the run; STRATA_TEST_SERVERS overrides.
    globalSetup: [createRequire(import.meta.url).resolve('@strata/test-servers/vitest-setup')],
    provide: { testServers: 's3,gcs,azure' },
    // One file at a time: fd/socket counts and RSS are per process, and the machine is small.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
