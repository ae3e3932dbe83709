import { defineConfig } from 'vitest/config';
export default defineConfig({ test: { include: ['test/**/*.test.ts'], globalSetup: ['scratch/moto-setup.mjs'], testTimeout: 180_000, hookTimeout: 180_000, fileParallelism: false } });
