import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['@strata/test-servers/vitest-setup'],
    provide: { testServers: 's3,gcs,azure' },
    testTimeout: 90_000,
    hookTimeout: 90_000,
  },
});
