import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// Same selection as the provide below, for runners that read the env.
process.env.STRATA_TEST_SERVERS ??= 's3';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The shared global setup starts the real S3 server (MinIO) on loopback; env STRATA_TEST_SERVERS overrides.
    globalSetup: [createRequire(import.meta.url).resolve('@strata/test-servers/vitest-setup')],
    provide: { testServers: 's3' },
    // Real server, multipart uploads of tens of MiB and a 256 MiB write on a shared 2-core machine.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    fileParallelism: false,
  },
});
