import { fileURLToPath } from 'node:url';
import { describeReadmeExamples } from '@strata/fs-core/testing';

// Every TypeScript block of the README runs; blocks that need cloud credentials are skipped visibly
// (the same flows run against MinIO in test/s3).
describeReadmeExamples(fileURLToPath(new URL('../README.md', import.meta.url)), {
  skip: [
    { pattern: /(s3|gs|az):\/\/(my-bucket|models|container)/, reason: 'needs cloud credentials; test/s3 covers it against MinIO' },
    { pattern: /@tensorflow\/tfjs/, reason: 'sketch for an engine that is not a dependency; test/engine.test.ts runs the same interface' },
  ],
  timeout: 120_000,
});
