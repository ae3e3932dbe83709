import { fileURLToPath } from 'node:url';
import { describeReadmeExamples } from '../src/testing/index.js';

describeReadmeExamples(fileURLToPath(new URL('../README.md', import.meta.url)), {
  skip: [
    { pattern: /s3:\/\/bucket|gs:\/\//, reason: 'needs cloud credentials; the backends run it against their test servers' },
    { pattern: /declare const/, reason: 'type-level sketch' },
    { pattern: /from '@strata\/fs-core\/testing'/, reason: 'registers a vitest suite; run by conformance-local' },
  ],
});
