import { describeFileSystem } from '@strata/fs-core/testing';

import { createBucket, destroyBucket, gcsFs, putRaw, rawStorage } from './helpers.js';

// The shared suite, unchanged, against fake-gcs-server; a fresh bucket per run and the adapter's own
// capability flags (emptyDirectories: false and atomicMove: false are true facts about GCS).
describeFileSystem(
  'gcs (fake-gcs-server)',
  async () => {
    const storage = rawStorage();
    const bucket = await createBucket(storage, 'conformance');
    const fs = gcsFs();
    return {
      fs,
      base: `${bucket}/run`,
      rawPut: (path, data) => putRaw(storage, path, data),
      teardown: async () => {
        await fs.close();
        await destroyBucket(storage, bucket);
      },
    };
  },
  { slow: true, patch: 'none' },
);
