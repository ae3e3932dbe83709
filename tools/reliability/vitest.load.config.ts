import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// `npm run test:load`: the 60-second load runs, one backend after another.
export default defineConfig({
  test: {
    include: ['test-load/**/*.test.ts'],
    globalSetup: [createRequire(import.meta.url).resolve('@strata/test-servers/vitest-setup')],
    provide: { testServers: 's3,gcs,azure' },
    fileParallelism: false,
    // A full GC before each memory sample, so the trend shows live memory rather than garbage.
    execArgv: ['--expose-gc'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
