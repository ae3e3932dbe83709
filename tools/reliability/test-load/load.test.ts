import { describeLoad } from '../test/support/load-checks.js';

describeLoad('load (60 s per backend)', { seconds: 60, maxOps: 400_000, workers: 64, faultRate: 0.02, checkMemory: true });
