import { defineConfig } from 'vitest/config';

// Same selection as `provide` below, for runners that read the env.
process.env.STRATA_TEST_SERVERS ??= 'gcs';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // fake-gcs-server from @strata/test-servers, in-memory, on a free loopback port.
    globalSetup: ['@strata/test-servers/vitest-setup'],
    provide: { testServers: 'gcs' },
    // A real server on a shared 2-core machine: thousands of objects, a 256 MiB upload.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    // One file at a time: the RSS test must not share the machine with the rest.
    fileParallelism: false,
  },
});
