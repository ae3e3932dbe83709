import { defineConfig } from 'vitest/config';

// Unit tests of the harness's own arithmetic; the harness end to end is `npm run bench -- --quick` in CI.
export default defineConfig({
  test: { include: ['test/*.test.ts'] },
});
