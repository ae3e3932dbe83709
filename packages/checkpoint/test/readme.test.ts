import { fileURLToPath } from 'node:url';
import { describeReadmeExamples } from '@strata/fs-core/testing';

// Every TypeScript block of the README runs; cloud URLs and API signature listings are skipped visibly.
describeReadmeExamples(fileURLToPath(new URL('../README.md', import.meta.url)), {
  skip: [
    { pattern: /(s3|gs|az):\/\/(my-bucket|bucket|models|container)/, reason: 'needs cloud credentials; test/cloud covers it against the test servers' },
    { pattern: /\): (Promise<|\{ missingKeys)/, reason: 'API signature listing, not a program' },
  ],
});
