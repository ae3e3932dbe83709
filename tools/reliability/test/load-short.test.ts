import { describeLoad } from './support/load-checks.js';

// The short run that belongs in `npm test`; `npm run test:load` runs the same for 60 s per backend.
describeLoad('load (short)', { seconds: 5, maxOps: 20_000, workers: 64, faultRate: 0.02, checkMemory: false });
