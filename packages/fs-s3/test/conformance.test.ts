import { describeFileSystem } from '@strata/fs-core/testing';
import { createBucket, destroyBucket, makeFs, putRaw, rawClient, uniqueName } from './helpers.js';

// The shared suite, unchanged, against a fresh bucket on the real server; capabilities are the adapter's own.
describeFileSystem(
  's3',
  async () => {
    const client = rawClient();
    const bucket = await createBucket(client, uniqueName('strata-conformance'));
    const fs = makeFs();
    return {
      fs,
      base: `${bucket}/${uniqueName('run')}`,
      rawPut: (path, data) => putRaw(client, path, data),
      teardown: async () => {
        await fs.close();
        await destroyBucket(client, bucket);
        client.destroy();
      },
    };
  },
  { slow: true, patch: 'first-part' },
);
