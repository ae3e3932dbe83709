import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Azurite from @strata/test-servers on a free loopback port; STRATA_TEST_SERVERS overrides.
    globalSetup: ['@strata/test-servers/vitest-setup'],
    provide: { testServers: 'azure' },
    // One file at a time: the machine is small and the RSS test must not share it with others.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
